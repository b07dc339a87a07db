"""The crowd exchange: areas learn from each other's tactics (causal lift, FDR, local A/B tests)."""

from tailguard.crowd.did import CellEffect, Estimate, callaway_santanna, twfe
from tailguard.crowd.panel import parse_panel_csv, read_panel_csv

__all__ = [
    "CellEffect",
    "Estimate",
    "callaway_santanna",
    "parse_panel_csv",
    "read_panel_csv",
    "twfe",
]
