"""KPI registry, hourly partials and their window merge, the exact reference scorecard."""

from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.exact import exact_scorecard
from tailguard.metrics.kpis import KPI_IDS, KPIS, KpiDef

__all__ = ["KPIS", "KPI_IDS", "KpiDef", "ScorecardEngine", "exact_scorecard"]
