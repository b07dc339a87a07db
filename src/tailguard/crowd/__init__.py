"""The crowd exchange: areas learn from each other's tactics (causal lift, FDR, local A/B tests).

See ``docs/crowd.md``. The estimator (:func:`callaway_santanna`) is staggered-adoption
difference-in-differences; :func:`twfe` is kept only as the canary that shows why.
"""

from tailguard.crowd.abtest import ABSettings, Allocation, allocate, run_test
from tailguard.crowd.did import CellEffect, Estimate, callaway_santanna, twfe
from tailguard.crowd.exchange import ExchangeResult, ExchangeSettings, TacticLift, run_exchange
from tailguard.crowd.panel import parse_panel_csv, read_panel_csv
from tailguard.crowd.publish import PublishReport, publish, tactic_pairs
from tailguard.crowd.reputation import Reputation, coaches_view, innovation_delta
from tailguard.crowd.store import CrowdStore, LocalTest, TacticRow

__all__ = [
    "ABSettings",
    "Allocation",
    "CellEffect",
    "CrowdStore",
    "Estimate",
    "ExchangeResult",
    "ExchangeSettings",
    "LocalTest",
    "PublishReport",
    "Reputation",
    "TacticLift",
    "TacticRow",
    "allocate",
    "callaway_santanna",
    "coaches_view",
    "innovation_delta",
    "parse_panel_csv",
    "publish",
    "read_panel_csv",
    "run_exchange",
    "run_test",
    "tactic_pairs",
    "twfe",
]
