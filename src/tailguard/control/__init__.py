"""The control plane: governed tools, durable approval gates, budgets, rollback and outcomes.

Build a :class:`ToolRegistry` of :class:`Tool` objects with :class:`Policy` objects (in code or
from a YAML file with :func:`load_policies`), open a :class:`ControlPlane` on a ledger, and send
every action through :meth:`ControlPlane.execute`.
"""

from tailguard.control.batch_parts import RunBatchResult, RunRequest
from tailguard.control.budget import Reservation, RunBudget, RunTotals
from tailguard.control.evaluator import Evaluation, HeuristicScorer, RunView, Scorer
from tailguard.control.gates import ApproverList, Approvers
from tailguard.control.plane import ControlPlane, ModelCall, RunLedger, summarize
from tailguard.control.policy import (
    Policy,
    RiskLevel,
    builtin_policies,
    load_policies,
    parse_policies,
    policy_table,
)
from tailguard.control.ratelimit import RateDecision, RateLimiter, RedisRateLimiter, SqlRateLimiter
from tailguard.control.results import (
    DecisionRequest,
    GateDecision,
    PendingCall,
    Run,
    RunOutcome,
    StepOutcome,
    StepResult,
)
from tailguard.control.tools import (
    Compensation,
    Tool,
    ToolContext,
    ToolOutput,
    ToolRegistry,
    Usage,
    args_hash,
    canonical_json,
)

__all__ = [
    "ApproverList",
    "Approvers",
    "Compensation",
    "ControlPlane",
    "DecisionRequest",
    "Evaluation",
    "GateDecision",
    "HeuristicScorer",
    "ModelCall",
    "PendingCall",
    "Policy",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "Reservation",
    "RiskLevel",
    "Run",
    "RunBatchResult",
    "RunBudget",
    "RunLedger",
    "RunOutcome",
    "RunRequest",
    "RunTotals",
    "RunView",
    "Scorer",
    "SqlRateLimiter",
    "StepOutcome",
    "StepResult",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "ToolRegistry",
    "Usage",
    "args_hash",
    "builtin_policies",
    "canonical_json",
    "load_policies",
    "parse_policies",
    "policy_table",
    "summarize",
]
