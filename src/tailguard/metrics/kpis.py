"""The KPI registry: every KPI of INTERFACES.md section 2 as one named, documented definition.

The scorecard, the tail rules, the guard-bands, the weekly pack and the dashboards all read
this one list. A KPI is data (:class:`KpiDef`); the code that computes it lives in
:mod:`tailguard.metrics.engine` (from merged partials) and :mod:`tailguard.metrics.exact`
(straight from raw events), both keyed by ``KpiDef.aggregation``. Adding a KPI means adding a
definition here and its aggregation in those two places; the tests compare the two for every
entry of :data:`KPIS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Population = Literal["surveys", "completed_jobs", "techs", "recall_techs", "stock_events"]


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiDef:
    """One KPI: what it measures, over which population, and how it is aggregated.

    Attributes:
        id: the stable identifier used in scorecards, rules and JSON output.
        title: a short human name.
        unit: the unit of the value (``score``, ``min``, ``USD/week``, ``%``, ``days``, ``jobs/week``).
        higher_is_better: the direction of "good", for plots and ranking.
        population: what one observation is (a survey, a completed job, a tech, ...).
        aggregation: the name of the aggregation function that computes it.
        quantile: the percentile as an integer (10, 90, 95) for percentile KPIs, else None.
        window_days: a fixed window (churn uses 90 days) or None for the scorecard's window.
        doc: the definition in words, as INTERFACES.md gives it.
    """

    id: str
    title: str
    unit: str
    higher_is_better: bool
    population: Population
    aggregation: str
    quantile: int | None = None
    window_days: int | None = None
    doc: str


_DEFS: Final[tuple[KpiDef, ...]] = (
    KpiDef(
        id="nps_p10",
        title="NPS P10",
        unit="score",
        higher_is_better=True,
        population="surveys",
        aggregation="nps_quantile",
        quantile=10,
        doc="10th percentile (inverted CDF) of `nps` over cx.survey events.",
    ),
    KpiDef(
        id="nps_p90",
        title="NPS P90",
        unit="score",
        higher_is_better=True,
        population="surveys",
        aggregation="nps_quantile",
        quantile=90,
        doc="90th percentile (inverted CDF) of `nps` over cx.survey events.",
    ),
    KpiDef(
        id="lateness_p90_min",
        title="Customer lateness P90",
        unit="min",
        higher_is_better=False,
        population="completed_jobs",
        aggregation="lateness_quantile",
        quantile=90,
        doc="90th percentile over job.completed of max(0, arrived_at - window_end) in minutes.",
    ),
    KpiDef(
        id="earnings_p10_week",
        title="Tech weekly earnings P10",
        unit="USD/week",
        higher_is_better=True,
        population="techs",
        aggregation="earnings_quantile",
        quantile=10,
        doc=(
            "10th percentile over the tech population of sum(tech_pay) x 7 / W; a tech is in "
            "the population if a tech.status or job.completed event names them (tech_id) in "
            "the area and window; techs with no job count as 0."
        ),
    ),
    KpiDef(
        id="earnings_p90_week",
        title="Tech weekly earnings P90",
        unit="USD/week",
        higher_is_better=True,
        population="techs",
        aggregation="earnings_quantile",
        quantile=90,
        doc="90th percentile of the same per-tech weekly earnings as earnings_p10_week.",
    ),
    KpiDef(
        id="recall_pct_p90",
        title="Tech recall % P90",
        unit="%",
        higher_is_better=False,
        population="recall_techs",
        aggregation="recall_quantile",
        quantile=90,
        doc=(
            "90th percentile over techs with at least 5 completed jobs in the window of "
            "100 x (completed jobs whose original_tech_id is the tech and recall_of_job_id is "
            "set) / (jobs the tech completed)."
        ),
    ),
    KpiDef(
        id="ftf_pct",
        title="First-time fix %",
        unit="%",
        higher_is_better=True,
        population="completed_jobs",
        aggregation="ftf_share",
        doc="100 x share of job.completed with first_time_fix true.",
    ),
    KpiDef(
        id="parts_cost_delta_p90_pct",
        title="Parts-cost delta P90 vs job-code median",
        unit="%",
        higher_is_better=False,
        population="completed_jobs",
        aggregation="parts_delta_quantile",
        quantile=90,
        doc=(
            "90th percentile over job.completed of 100 x (parts_cost / median parts_cost of "
            "the same job_code in the area and window - 1), skipping job codes whose median is 0."
        ),
    ),
    KpiDef(
        id="jobs_per_week",
        title="Jobs per week",
        unit="jobs/week",
        higher_is_better=True,
        population="completed_jobs",
        aggregation="jobs_rate",
        doc="Number of job.completed x 7 / W.",
    ),
    KpiDef(
        id="gp_pct",
        title="Gross profit %",
        unit="%",
        higher_is_better=True,
        population="completed_jobs",
        aggregation="gross_profit",
        doc="100 x (sum revenue - sum parts_cost - sum tech_pay) / sum revenue.",
    ),
    KpiDef(
        id="eta_adherence_pct",
        title="ETA adherence %",
        unit="%",
        higher_is_better=True,
        population="completed_jobs",
        aggregation="eta_share",
        doc="100 x share of job.completed with arrived_at <= window_end.",
    ),
    KpiDef(
        id="parts_lead_time_p95_days",
        title="Parts lead time P95",
        unit="days",
        higher_is_better=False,
        population="stock_events",
        aggregation="lead_time_quantile",
        quantile=95,
        doc="95th percentile of lead_time_days over parts.stock events.",
    ),
    KpiDef(
        id="churn_90d_pct",
        title="Tech churn, 90 days",
        unit="%",
        higher_is_better=False,
        population="techs",
        aggregation="churn_share",
        window_days=90,
        doc=(
            "Over the 90 days ending at as_of: 100 x techs with a churned status / techs in "
            "the area's 90-day population."
        ),
    ),
)

#: Every KPI by id, in the order INTERFACES.md lists them (the scorecard's column order).
KPIS: Final[MappingProxyType[str, KpiDef]] = MappingProxyType({k.id: k for k in _DEFS})

#: KPI ids in scorecard column order.
KPI_IDS: Final[tuple[str, ...]] = tuple(KPIS)

#: Days of tech-status history the churn KPI needs.
CHURN_DAYS: Final = 90

#: Minimum completed jobs for a tech to enter the recall population.
RECALL_MIN_JOBS: Final = 5


def kpi(kpi_id: str) -> KpiDef:
    """The definition of ``kpi_id``.

    Raises:
        KeyError: if no KPI has that id.
    """
    return KPIS[kpi_id]
