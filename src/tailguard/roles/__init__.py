"""Conversational role agents under the control plane.

``providers`` holds the model interface and its Anthropic, OpenAI and scripted
implementations; ``recruiting`` the reference domain (dataset, tools, roles); ``loop`` the
governed tool-use loop.
"""
