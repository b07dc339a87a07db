"""The exchange: cluster areas, estimate each tactic's causal lift per cluster, control the FDR.

Every night, for each published tactic (on its target KPI) and each cluster of areas, the
panel is the cluster's areas' KPI per week with ``first_treated`` the week an area adopted the
tactic (0 for areas that did not). :func:`~tailguard.crowd.did.callaway_santanna` gives the
average effect on the adopters; ``lift`` is that effect signed so that positive means better
(lower is better for lateness, recalls, churn, parts-cost delta and lead time).

Results are read every night, so a fixed-sample p-value would find false uplifts by sheer
repetition. Each lift's p-value is the always-valid one of a mixture SPRT
(:func:`~tailguard.crowd.sequential.msprt_p_uplift`), and Benjamini-Hochberg over all the
(tactic, cluster) pairs tested that night controls the false discovery rate at ``q``. A cluster's
top 3 are its discoveries with the largest lift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.crowd.cluster import cluster_areas
from tailguard.crowd.did import callaway_santanna
from tailguard.crowd.sequential import benjamini_hochberg, msprt_p_uplift
from tailguard.crowd.store import CrowdStore
from tailguard.errors import InvalidInputError, NotFoundError

LOWER_IS_BETTER: Final = frozenset(
    {
        "lateness_p90_min",
        "recall_pct_p90",
        "parts_cost_delta_p90_pct",
        "parts_lead_time_p95_days",
        "churn_90d_pct",
    }
)


def direction(kpi: str) -> int:
    """+1 when a higher value of ``kpi`` is better, -1 when lower is better."""
    return -1 if kpi in LOWER_IS_BETTER else 1


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeSettings:
    """The exchange's knobs.

    Attributes:
        q: the false discovery rate controlled over the tactics tested at once.
        confidence: the confidence of uplift that tags a tactic for a local test elsewhere.
        tau_sd: the mixture SPRT's scale, as a share of the KPI's period-to-period noise.
        min_adopters: a (tactic, cluster) is tested only with at least this many adopters.
        k: clusters (None: as many as area types).
        seed: the k-means++ seed.
        top_n: how many tactics a cluster surfaces.
        group_similar: also estimate families of similar tactics (levels of one catalogue
            entry, entries of one kind) whose lifts are compatible
            (:mod:`tailguard.crowd.families`).
        family_alpha: a family is formed only when the test of "the members' lifts differ"
            has a p-value of at least this.
    """

    q: float = 0.1
    confidence: float = 0.95
    tau_sd: float = 0.5
    min_adopters: int = 5
    k: int | None = None
    seed: int = 0
    top_n: int = 3
    group_similar: bool = False
    family_alpha: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.q < 1 or not 0 < self.confidence < 1:
            raise InvalidInputError("q and confidence must be in (0, 1)")
        if self.tau_sd <= 0 or self.min_adopters < 1 or self.top_n < 1:
            raise InvalidInputError("tau_sd, min_adopters and top_n must be positive")
        if not 0 < self.family_alpha < 1:
            raise InvalidInputError("family_alpha must be in (0, 1)")


@dataclass(frozen=True, kw_only=True, slots=True)
class TacticLift:
    """One tactic's estimated lift in one cluster."""

    tactic: str
    kpi: str
    cluster: str
    lift: float
    se: float
    ci95: tuple[float, float]
    adopters: int
    adopter_areas: tuple[str, ...]
    p_uplift: float
    discovered: bool = False
    replications: int = 0
    #: For a family of similar tactics (``entry[*]``, ``kind:<kind>[*]``): its members.
    members: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``top`` list's JSON shape."""
        return {
            "tactic": self.tactic,
            "kpi": self.kpi,
            "lift": self.lift,
            "ci95": list(self.ci95),
            "adopters": self.adopters,
            "replications": self.replications,
            "se": self.se,
            "p_uplift": self.p_uplift,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeResult:
    """One night of the exchange: clusters and every tested lift."""

    clusters: Mapping[str, str]
    lifts: tuple[TacticLift, ...]
    settings: ExchangeSettings = field(default_factory=ExchangeSettings)

    def top(self, area_id: str) -> dict[str, Any]:
        """The area's cluster and its top tactics (INTERFACES.md section 6 ``crowd top``).

        Raises:
            NotFoundError: the area has published nothing.
        """
        cluster = self.clusters.get(area_id)
        if cluster is None:
            raise NotFoundError(f"area {area_id!r} has published no KPI values")
        best = sorted(
            (x for x in self.lifts if x.cluster == cluster and x.discovered and x.lift > 0),
            key=lambda x: (-x.lift, x.tactic, x.kpi),
        )[: self.settings.top_n]
        return {"area_id": area_id, "cluster": cluster, "top": [x.to_dict() for x in best]}

    def proven_elsewhere(self, area_id: str) -> list[TacticLift]:
        """Discoveries in the area's cluster, confident enough, that the area has not adopted."""
        cluster = self.clusters.get(area_id)
        alpha = 1.0 - self.settings.confidence
        return sorted(
            (
                x
                for x in self.lifts
                if x.cluster == cluster
                and x.discovered
                and x.lift > 0
                and x.p_uplift <= alpha
                and not x.members  # a family is no single tactic to test
                and area_id not in x.adopter_areas
            ),
            key=lambda x: (-x.lift, x.tactic),
        )


def estimate_lifts(
    kpi_rows: pl.DataFrame,
    adoptions: pl.DataFrame,
    clusters: Mapping[str, str],
    settings: ExchangeSettings,
    replications: Mapping[tuple[str, str, str], int] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> list[TacticLift]:
    """Every (tactic, kpi, cluster) lift with its always-valid p-value and BH decision.

    Args:
        kpi_rows: ``area_id, kpi, period, value``.
        adoptions: ``area_id, tactic, kpi, adopted_period``.
        clusters: area -> cluster.
        settings: the exchange settings.
        replications: independent local tests that confirmed (tactic, kpi, cluster).
        kinds: catalogue entry id -> its kind (families of entries of one kind; with
            ``settings.group_similar``).
    """
    reps = dict(replications or {})
    cluster_frame = pl.DataFrame(
        {"area_id": list(clusters), "cluster": list(clusters.values())},
        schema={"area_id": pl.String, "cluster": pl.String},
    )
    by_kpi = {
        key[0]: frame
        for key, frame in kpi_rows.join(cluster_frame, on="area_id")
        .partition_by("kpi", as_dict=True)
        .items()
    }
    found: list[TacticLift] = []
    pairs = adoptions.select("tactic", "kpi").unique().sort("tactic", "kpi")
    adopted = adoptions.join(cluster_frame, on="area_id")
    for tactic, kpi in pairs.iter_rows():
        rows = by_kpi.get(kpi)
        if rows is None:
            continue
        mine = adopted.filter((pl.col("tactic") == tactic) & (pl.col("kpi") == kpi))
        for (cluster,), adopters in mine.partition_by("cluster", as_dict=True).items():
            lift = cluster_lift(
                rows.filter(pl.col("cluster") == cluster),
                adopters,
                tactic=str(tactic),
                kpi=str(kpi),
                cluster=str(cluster),
                settings=settings,
                replications=reps.get((str(tactic), str(kpi), str(cluster)), 0),
            )
            if lift is not None:
                found.append(lift)
    if settings.group_similar:
        from tailguard.crowd.families import family_lifts

        found += family_lifts(by_kpi, adopted, found, settings, kinds or {})
    flags = benjamini_hochberg([x.p_uplift for x in found], settings.q)
    return [_with(x, discovered=f) for x, f in zip(found, flags, strict=True)]


def cluster_lift(
    rows: pl.DataFrame,
    adopters: pl.DataFrame,
    *,
    tactic: str,
    kpi: str,
    cluster: str,
    settings: ExchangeSettings,
    replications: int = 0,
) -> TacticLift | None:
    """One lift: the cluster's KPI rows (``area_id, period, value``) and its adopters
    (``area_id, adopted_period``); None when it cannot be estimated or has too few adopters."""
    if adopters.height < settings.min_adopters:
        return None
    panel = rows.join(
        adopters.select("area_id", "adopted_period"), on="area_id", how="left"
    ).select(
        pl.col("area_id").alias("unit"),
        "period",
        pl.col("value").alias("y"),
        pl.col("adopted_period").fill_null(0).alias("first_treated"),
    )
    try:
        est = callaway_santanna(panel, small_sample=True)
    except InvalidInputError:
        return None
    if est.n_treated_units < settings.min_adopters:
        return None  # a variance from a handful of adopters is too unreliable to test
    noise = _noise_sd(panel)
    sign = direction(kpi)
    lift = sign * est.att
    lo, hi = sorted(sign * v for v in est.ci95)
    return TacticLift(
        tactic=tactic,
        kpi=kpi,
        cluster=cluster,
        lift=lift,
        se=est.se,
        ci95=(lo, hi),
        adopters=est.n_treated_units,
        adopter_areas=tuple(sorted(adopters["area_id"].to_list())),
        p_uplift=msprt_p_uplift(lift, est.se, settings.tau_sd * noise),
        replications=replications,
    )


def _noise_sd(panel: pl.DataFrame) -> float:
    """The SD of period-to-period changes within units: the scale of the mixture prior."""
    diffs = (
        panel.sort("unit", "period")
        .select(pl.col("y").diff().over("unit"))
        .drop_nulls()
        .to_series()
        .to_numpy()
    )
    sd = float(np.std(diffs)) if len(diffs) > 1 else 0.0
    return sd if sd > 0 else 1.0


def _with(x: TacticLift, **changes: Any) -> TacticLift:
    fields = {name: getattr(x, name) for name in TacticLift.__slots__}
    fields.update(changes)
    return TacticLift(**fields)


def run_exchange(
    store: CrowdStore,
    settings: ExchangeSettings | None = None,
    kinds: Mapping[str, str] | None = None,
) -> ExchangeResult:
    """The nightly exchange over everything published in ``store`` (``kinds``: catalogue
    entry -> kind, for families of similar tactics with ``settings.group_similar``)."""
    cfg = settings or ExchangeSettings()
    kpi_rows = store.kpis_frame()
    if kpi_rows.is_empty():
        return ExchangeResult(clusters={}, lifts=(), settings=cfg)
    clusters = cluster_areas(kpi_rows, store.area_types(), k=cfg.k, seed=cfg.seed)
    reps: dict[tuple[str, str, str], int] = {}
    for t in store.local_tests():
        if t.status == "adopted":
            key = (t.tactic, t.kpi, t.cluster)
            reps[key] = reps.get(key, 0) + 1
    adoptions = store.tactics_frame().select("area_id", "tactic", "kpi", "adopted_period")
    lifts = estimate_lifts(kpi_rows, adoptions, clusters, cfg, reps, kinds)
    return ExchangeResult(clusters=clusters, lifts=tuple(lifts), settings=cfg)
