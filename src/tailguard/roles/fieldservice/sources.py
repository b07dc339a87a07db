"""Where the field-service tools read from: the ledger (runs, gates, OKRs), the self-learn
store (every intervention with its trigger, status and measured outcome) and the pulse (the
areas' KPIs tick by tick), plus the control plane for deciding gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tailguard.clock import Clock
from tailguard.errors import NotFoundError

if TYPE_CHECKING:
    from tailguard.control import ControlPlane
    from tailguard.learning.store import SelfLearnStore
    from tailguard.ledger import Ledger
    from tailguard.pulse import PulseStore
    from tailguard.rules import RuleSet


@dataclass(kw_only=True)
class OpsSources:
    """The stores behind the field-service tools.

    Attributes:
        ledger: the ledger (the control plane's records, OKRs).
        learn: the self-learn store on the ledger's database.
        clock: the time source ("yesterday" is relative to it).
        pulse: the pulse store (None: the pulse tools say none is configured).
        rules: the tail rules for ``fs_tails`` (default: the built-in rules).
        control: the control plane, set once it is built (the decide tool needs it).
    """

    ledger: Ledger
    learn: SelfLearnStore
    clock: Clock
    pulse: PulseStore | None = None
    rules: RuleSet | None = None
    control: ControlPlane | None = field(default=None)

    def need_pulse(self) -> PulseStore:
        """The pulse store, or a clear error when none was given."""
        if self.pulse is None:
            raise NotFoundError("no pulse store is configured (start with --pulse URL)")
        return self.pulse

    def need_control(self) -> ControlPlane:
        """The control plane (always set once the stack is open)."""
        if self.control is None:
            raise NotFoundError("the control plane is not open")
        return self.control
