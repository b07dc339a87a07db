"""Learning from interventions: the self-learn store (context, action, propensity, outcome)."""

from tailguard.learning.store import (
    STATUSES,
    Decision,
    DecisionState,
    OutcomeDue,
    SelfLearnStore,
    StatusUpdate,
)

__all__ = ["STATUSES", "Decision", "DecisionState", "OutcomeDue", "SelfLearnStore", "StatusUpdate"]
