"""Autonomous operations on the control plane: the self-healing reliability agent, the
recruiter autopilot, the dev swarm's change proposals and the exit criteria as live figures.

>>> from tailguard.ops import run_drill
>>> run_drill("hanging_downstream", "sqlite:///drill.db")  # doctest: +SKIP

Durable workflows over the control plane: every consequential step is a governed tool call
behind an approval gate, every step is in the ledger, and the workflow's state is in the
database so a restarted process resumes it without repeating a step. See
``docs/operations.md``.
"""

from tailguard.ops.campaign import Autopilot, CampaignProfile, CampaignSpec, parse_spec
from tailguard.ops.deployment import Deployment, DeploymentConfig, HourReport
from tailguard.ops.drill import ScriptedApprover, downstream_fleet, inject, run_drill
from tailguard.ops.exitcriteria import exit_criteria
from tailguard.ops.healing import PLAYBOOK, Healing, Incident
from tailguard.ops.remedies import RemedyContext, register_remedies, remedy_tools
from tailguard.ops.store import OpsStore
from tailguard.ops.swarm import Swarm, open_swarm
from tailguard.ops.swarm_tools import SwarmConfig, register_swarm
from tailguard.ops.watch import FAULTS, Anomaly, Signals, Thresholds, detect, read_signals

__all__ = [
    "FAULTS",
    "PLAYBOOK",
    "Anomaly",
    "Autopilot",
    "CampaignProfile",
    "CampaignSpec",
    "Deployment",
    "DeploymentConfig",
    "Healing",
    "HourReport",
    "Incident",
    "OpsStore",
    "RemedyContext",
    "ScriptedApprover",
    "Signals",
    "Swarm",
    "SwarmConfig",
    "Thresholds",
    "detect",
    "downstream_fleet",
    "exit_criteria",
    "inject",
    "open_swarm",
    "parse_spec",
    "read_signals",
    "register_remedies",
    "register_swarm",
    "remedy_tools",
    "run_drill",
]
