"""The field-service reference domain for chat and MCP: an operations manager's questions
about their own network, answered from the ledger, the pulse and the self-learn store through
governed read tools, with approvals decided through the same control plane.

The trucking-recruiting domain (``roles/recruiting``) is the second reference domain; the two
are served apart (``tailguard chat|mcp --domain operations|recruiting``).
"""
