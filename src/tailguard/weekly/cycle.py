"""The weekly strategic cycle for every area at once: compute, commit, render.

:func:`run_week` reads, beside the ledger (see ``docs/weekly.md``):

* ``pulse.db``: the pulse store (hourly KPI history of every area), for trends, churn's
  distribution and the benchmark's scorecard at ``as_of``;
* ``weeks/<YYYY-MM-DD>/``: the per-unit aggregates :func:`~tailguard.weekly.snapshot_week`
  wrote at each week's end (this week's is required, last week's is used when present); when
  that directory does not hold the week, the same aggregates a live ``tailguard agents run``
  keeps in the ledger's database (:mod:`tailguard.weekly.dbweeks`), so a live deployment's
  cycle needs the database alone.

Compute phase (one process): benchmark over all areas, the self-learn store's measured
outcomes, each area's pack data, playbook and OKR, last week's OKR scores, and the ``okr``
ledger records. Render phase (``workers`` processes): figures, HTML, PDFs, JSON per area;
then the network index page.

Everything read is as of ``as_of``: pulse rows at or before it, the snapshots of this and
earlier weeks, outcomes the self-learn store had measured by then, and the OKRs committed for
last week. So the cycle gives the same pages while the agents go on writing to the same
databases (the demo runs it beside them), and when it is run again later.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tailguard.clock import format_ts
from tailguard.errors import NotFoundError
from tailguard.ledger import Ledger
from tailguard.metrics.kpis import KPI_IDS
from tailguard.weekly.benchmark import Benchmark, benchmark
from tailguard.weekly.cite import cite, ops_cards
from tailguard.weekly.library import LeverLibrary, load_library
from tailguard.weekly.okr import build_okr, commit, committed_okrs, score_okr
from tailguard.weekly.outcomes import (
    kpi_changes,
    lever_priors,
    lever_records,
    others_drift,
    past_results,
    score_levers,
)
from tailguard.weekly.pack import DISTRIBUTIONS, Pack, build_pack
from tailguard.weekly.playbook import AreaContext, choose, learned_effects
from tailguard.weekly.plots import Scale, network_scales
from tailguard.weekly.render import AreaJob, index_html, render_areas
from tailguard.weekly.snapshot import WEEK_FILES, WeekData, find_week

Progress = Callable[[str, int, int], None]
HISTORY_WEEKS = 8
_LEARN_PAGE = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class WeekResult:
    """What a weekly cycle produced.

    Attributes:
        as_of: the end of the week.
        out_dir: where the pages went (``<out_dir>/<area_id>/...`` and ``index.html``).
        areas: the areas rendered.
        okr_records: ``okr`` records appended to the ledger (committed + scored).
        scores: last week's OKRs by overall status (``met`` / ``partly`` / ``missed``).
        pdf_errors: areas whose PDFs could not be printed, with the reason.
        timings: seconds per phase (``load``, ``compute``, ``commit``, ``render``, ``index``)
            and the render split summed over workers (``plot``, ``html``, ``pdf``).
        learned_levers: levers whose effects measured outcomes updated.
    """

    as_of: datetime
    out_dir: Path
    areas: tuple[str, ...]
    okr_records: int
    scores: Mapping[str, int]
    pdf_errors: Mapping[str, str]
    timings: Mapping[str, float]
    learned_levers: tuple[str, ...] = ()
    okrs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` summary of ``tailguard week``."""
        return {
            "as_of": format_ts(self.as_of),
            "out": str(self.out_dir),
            "index": str(self.out_dir / "index.html"),
            "areas": len(self.areas),
            "okr_records": self.okr_records,
            "last_week_scores": dict(self.scores),
            "pdf": {"ok": len(self.areas) - len(self.pdf_errors), "errors": dict(self.pdf_errors)},
            "learned_levers": list(self.learned_levers),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def beside_ledger(ledger_url: str) -> Path | None:
    """The directory holding a SQLite ledger (where pulse.db and weeks/ live); None otherwise."""
    if "://" not in ledger_url:
        return Path(ledger_url).resolve().parent
    url = make_url(ledger_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent
    return None


def _split(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    if frame.height == 0:
        return {}
    return {str(k[0]): v for k, v in frame.partition_by("area_id", as_dict=True).items()}


def _empty_like(week: WeekData) -> dict[str, pl.DataFrame]:
    return {name: week.frame(name).clear() for name in WEEK_FILES}


FindWeek = Callable[[datetime], WeekData | None]


def _weekly_history(find: FindWeek, as_of: datetime) -> pl.DataFrame | None:
    frames = []
    for k in range(HISTORY_WEEKS):
        t = as_of - timedelta(days=7 * k)
        week = find(t)
        if week is None:
            continue
        areas = week.frame("areas")
        cols = [c for c in KPI_IDS if c in areas.columns]
        frames.append(
            areas.select("area_id", *cols).with_columns(
                pl.lit(t).cast(pl.Datetime("us", "UTC")).alias("as_of")
            )
        )
    return pl.concat(frames, how="diagonal_relaxed").sort("area_id", "as_of") if frames else None


def _pulse_history(pulse_url: str | None, as_of: datetime) -> pl.DataFrame | None:
    if pulse_url is None:
        return None
    from tailguard.pulse import PulseStore

    with PulseStore.open(pulse_url) as store:
        hist = store.history(since=as_of - timedelta(days=7 * HISTORY_WEEKS), until=as_of)
    return hist if hist.height else None


def _learned(ledger: Ledger, library: LeverLibrary, as_of: datetime) -> dict[str, Any]:
    """The levers' effects updated by the outcomes the self-learn store had measured by ``as_of``.

    The store's rows are updated in place as decisions progress, and the agents may still be
    writing while this runs (the demo runs the cycle in another process): only decisions
    executed and measured at or before ``as_of`` count, so later writes cannot change the week.
    Executed is final, and an outcome is measured once, so these rows are exactly those that
    were executed and measured at ``as_of``. The rows are read in short read-only transactions
    (a deferred BEGIN on SQLite), so the agents' writes never wait for this reader. A ledger
    without the store's table has learned nothing; any other database error is raised (an OKR
    silently made without what was learned would look like any other).
    """
    from tailguard.learning.store import interventions

    c = interventions.c
    bound = as_of.timestamp()
    query = (
        sa.select(c.seq, c.kind, c.status, c.outcome_kpi, c.outcome_delta)
        .where(
            c.status == "executed",
            c.outcome_delta.is_not(None),
            c.decided_at <= bound,
            c.executed_at.is_(None) | (c.executed_at <= bound),
            c.measured_at <= bound,
        )
        .order_by(c.seq)
        .limit(_LEARN_PAGE)
    )
    rows: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        page_query = query if after is None else query.where(c.seq > after)
        with ledger.engine.connect() as conn:
            read = conn.execution_options(**ledger.backend.read_options())
            if after is None and not sa.inspect(read).has_table(interventions.name):
                return {}  # a ledger no agent has written to
            page = [dict(r._mapping) for r in read.execute(page_query)]
        rows += page
        if len(page) < _LEARN_PAGE:
            break
        after = int(page[-1]["seq"])
    return learned_effects(library, rows)


def _week_source(
    ledger_url: str, home: Path | None, weeks_dir: Path | None, as_of: datetime
) -> tuple[FindWeek, str, Callable[[], list[str]]]:
    """Where the week snapshots are read: (find, where for messages, the weeks there).

    ``weeks_dir`` when given; else ``weeks/`` beside a SQLite ledger when it holds the week
    ending at ``as_of`` (the demo's); else the ledger's database (a live runner's).
    """
    if weeks_dir is None and home is not None and find_week(home / "weeks", as_of) is not None:
        weeks_dir = home / "weeks"
    if weeks_dir is not None:
        root = Path(weeks_dir)

        def listed() -> list[str]:
            return sorted(p.name for p in root.glob("*") if (p / "meta.json").is_file())

        return (lambda t: find_week(root, t)), str(root), listed
    from tailguard.weekly.dbweeks import WeekStore

    by_date: dict[str, WeekData] = {}
    names: list[str] = []
    try:
        ledger = Ledger.open(ledger_url, create=False)
    except NotFoundError:
        pass  # no ledger there: no week kept either
    else:
        try:
            store = WeekStore(ledger.engine)
            for k in range(HISTORY_WEEKS):
                week = store.find(as_of - timedelta(days=7 * k))
                if week is not None:
                    by_date[week.key] = week
            names = store.weeks()
        finally:
            ledger.close()

    def find(t: datetime) -> WeekData | None:
        return by_date.get(t.astimezone(UTC).date().isoformat())

    where = "the ledger's database" + (f" or {home / 'weeks'}" if home is not None else "")
    return find, where, lambda: names


def run_week(
    ledger_url: str,
    as_of: datetime,
    out_dir: Path,
    areas: Sequence[str] | None = None,
    workers: int = 2,
    *,
    pulse_url: str | None = None,
    weeks_dir: Path | None = None,
    library: LeverLibrary | None = None,
    pdf: bool = True,
    progress: Progress | None = None,
) -> WeekResult:
    """Run the weekly cycle for the week ending at ``as_of`` (see the module docstring).

    Args:
        ledger_url: the ledger (``sqlite:///dir/ledger.db`` or PostgreSQL); OKRs go there.
        as_of: the end of the week (a week snapshot must exist for it).
        out_dir: where pages go.
        areas: only these areas (default all in the snapshot); the benchmark still ranks all.
        workers: render processes.
        pulse_url: the pulse store (default ``pulse.db`` beside a SQLite ledger, if present).
        weeks_dir: the snapshots (default ``weeks/`` beside a SQLite ledger when it holds
            this week, else those a live ``tailguard agents run`` keeps in the ledger's
            database: :mod:`tailguard.weekly.dbweeks`).
        library: the lever library (default: the built-in one).
        pdf: also print PDFs (headless Chromium).
        progress: called with (stage, done, total); stages ``compute`` (per area), ``commit``
            (once, when the OKR records are in the ledger) and ``render`` (per area).

    Raises:
        NotFoundError: no snapshot for ``as_of``, or an unknown area.
    """
    as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    tell = progress or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    home = beside_ledger(ledger_url)
    if pulse_url is None and home is not None and (home / "pulse.db").is_file():
        pulse_url = f"sqlite:///{home / 'pulse.db'}"
    find, where, have = _week_source(ledger_url, home, weeks_dir, as_of)
    this = find(as_of)
    if this is None:
        raise NotFoundError(
            f"no week snapshot for {as_of.date()} in {where} (have: {', '.join(have()) or 'none'})"
        )
    last = find(as_of - timedelta(days=7))
    library = library or load_library()
    pulse = _pulse_history(pulse_url, as_of)
    weekly = _weekly_history(find, as_of)
    this_parts = {n: _split(this.frame(n)) for n in WEEK_FILES}
    last_parts = {n: _split(last.frame(n)) for n in WEEK_FILES} if last is not None else None
    all_areas = sorted(this.frame("areas")["area_id"].to_list())
    chosen = list(areas) if areas else all_areas
    unknown = sorted(set(chosen) - set(all_areas))
    if unknown:
        raise NotFoundError(
            f"no data for area(s) {', '.join(unknown)} in the week to {as_of.date()}"
        )
    score_source = this.frame("areas").select(
        "area_id", *[k for k in KPI_IDS if k in this.frame("areas").columns]
    )
    if pulse is not None:
        at = pulse.filter(pl.col("as_of") == as_of)
        if at.height == len(all_areas):
            score_source = at.drop("as_of")
    bench = benchmark(score_source)
    scales = _scales(this, last, pulse, weekly, bench, as_of)
    pulse_parts = _split(pulse) if pulse is not None else {}
    weekly_parts = _split(weekly) if weekly is not None else {}
    timings["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    week_of = as_of.date().isoformat()
    ledger = Ledger.open(ledger_url)
    try:
        learned = _learned(ledger, library, as_of)
        cited = ops_cards(ledger, as_of)  # the compendium's cards behind each lever
        last_week_of = (as_of - timedelta(days=7)).date().isoformat()
        past = committed_okrs(ledger, last_week_of)
        values = {r["area_id"]: r for r in score_source.to_dicts()}
        scores = {a: score_okr(o, values.get(a, {})) for a, o in past.items() if a in chosen}
        # What last week's levers moved against their forecast (weekly/outcomes.py), and the
        # levers' priors updated by every applied lever measured so far.
        if past:
            ran = lever_records(ledger, last_week_of)
            before = {r["area_id"]: r for r in last.frame("areas").to_dicts()} if last else {}
            others = others_drift(past, kpi_changes(values, before))
            for area, score in scores.items():
                score["levers"] = score_levers(past[area], score, ran.get(area, []), others)
        measured = past_results(ledger, last_week_of)
        measured += [r for s in scores.values() for r in s.get("levers", [])]
        learned = lever_priors(library, measured, learned)
        jobs: list[AreaJob] = []
        okrs: dict[str, dict[str, Any]] = {}
        empty = _empty_like(this)
        for i, area in enumerate(chosen):
            mine = bench.for_area(area)
            cf, tt = bench.copy_from(area), bench.teach_to(area)
            pack = build_pack(
                area,
                as_of,
                this_week={n: this_parts[n].get(area, empty[n]) for n in WEEK_FILES},
                last_week=(
                    {n: last_parts[n].get(area, empty[n]) for n in WEEK_FILES}
                    if last_parts is not None
                    else None
                ),
                pulse=pulse_parts.get(area),
                weekly=weekly_parts.get(area),
                bench=mine,
                copy_from=cf,
                teach_to=tt,
                gp_basis=this.gp_basis,
            )
            money = pack.money
            ctx = AreaContext(
                area_id=area,
                week_of=week_of,
                bench=mine,
                revenue_week=float(money.get("revenue_usd") or 0.0),
                gp_week=float(money.get("gp_usd") or 0.0),
            )
            hint = {c["kpi_id"]: c["areas"][0]["area_id"] for c in cf if c["areas"]}
            plays = choose(library, ctx, learned, copy_hint=hint)
            okr = build_okr(area, week_of, format_ts(as_of), plays, mine)
            cite(okr, cited)
            okrs[area] = okr
            pack = _with(pack, okr=okr, last_week_score=scores.get(area))
            jobs.append(AreaJob(pack=pack, okr=okr, bench=mine, out=Path(out_dir) / area))
            tell("compute", i + 1, len(chosen))
        # Each area's commitment is read by the others: who committed to which lever.
        committed: dict[str, list[str]] = {}
        for area_id, made in sorted(okrs.items()):
            for lv in made["levers"]:
                committed.setdefault(str(lv["lever_id"]), []).append(area_id)
        jobs = [dataclasses.replace(j, pack=_with(j.pack, commitments=committed)) for j in jobs]
        timings["compute"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        written = commit(ledger, okrs.values(), scores.values())
        timings["commit"] = time.perf_counter() - t2
        tell("commit", 1, 1)  # the OKR records are in the ledger; rendering is all that is left
    finally:
        ledger.close()

    t3 = time.perf_counter()
    pdf_errors: dict[str, str] = {}
    split = {"plot": 0.0, "html": 0.0, "pdf": 0.0}
    has_pdf: set[str] = set()
    for n, done in enumerate(render_areas(jobs, scales, workers=workers, pdf=pdf), start=1):
        if done.pdf_error:
            pdf_errors[done.area_id] = done.pdf_error
        if "pack.pdf" in done.files:
            has_pdf.add(done.area_id)
        split["plot"] += done.plot_s
        split["html"] += done.html_s
        split["pdf"] += done.pdf_s
        tell("render", n, len(jobs))
    timings["render"] = time.perf_counter() - t3
    timings.update({f"render_{k}_cpu": v for k, v in split.items()})

    t4 = time.perf_counter()
    tally: dict[str, int] = {}
    for s in scores.values():
        tally[s["overall"]] = tally.get(s["overall"], 0) + 1
    rows = [
        _index_row(job.pack, okrs[job.pack.area_id], job.pack.area_id in has_pdf) for job in jobs
    ]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "index.html").write_text(
        index_html(format_ts(as_of), rows, tally), encoding="utf-8"
    )
    timings["index"] = time.perf_counter() - t4
    timings["total"] = time.perf_counter() - t0
    return WeekResult(
        as_of=as_of,
        out_dir=Path(out_dir),
        areas=tuple(chosen),
        okr_records=written,
        scores=tally,
        pdf_errors=pdf_errors,
        timings=timings,
        learned_levers=tuple(sorted(learned)),
        okrs=okrs,
    )


def _scales(
    this: WeekData,
    last: WeekData | None,
    pulse: pl.DataFrame | None,
    weekly: pl.DataFrame | None,
    bench: Benchmark,
    as_of: datetime,
) -> dict[str, Scale]:
    """The network-wide axes of every KPI row of the packs' figures."""
    units: dict[str, np.ndarray] = {}
    trends: dict[str, np.ndarray] = {}
    for k in KPI_IDS:
        source, col, _ = DISTRIBUTIONS[k]
        frames = [pulse] if source == "pulse" else [w.frame(source) for w in (this, last) if w]
        units[k] = np.concatenate(
            [_floats(f, col if source != "pulse" else k) for f in frames if f is not None]
            or [np.empty(0)]
        )
        trends[k] = np.concatenate(
            [_floats(f, k) for f in (pulse, weekly) if f is not None] or [np.empty(0)]
        )
    levels = {r["kpi_id"]: (r["p50"], r["p90"]) for r in bench.levels.iter_rows(named=True)}
    starts: list[datetime] = [
        f["as_of"].min()  # type: ignore[misc]
        for f in (pulse, weekly)
        if f is not None and f.height
    ]
    days = max(((as_of - s).total_seconds() / 86400.0 for s in starts), default=7.0)
    return network_scales(units, trends, levels, days)


def _floats(frame: pl.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.empty(0)
    arr = frame[col].drop_nulls().cast(pl.Float64).to_numpy()
    return np.asarray(arr[np.isfinite(arr)], dtype=np.float64)


def _with(pack: Pack, **changes: Any) -> Pack:
    from dataclasses import replace

    return replace(pack, **changes)


def _index_row(pack: Pack, okr: Mapping[str, Any], pdf: bool) -> dict[str, Any]:
    return {
        "area_id": pack.area_id,
        "gp": pack.money.get("gp_usd"),
        "drifted": sum(1 for p in pack.panels if p.drift.get("level") not in ("none", None)),
        "gains": sum(g["gp_usd"] for g in pack.top_gains),
        "drag": sum(d["gp_vs_expected_usd"] for d in pack.bottom_drag),
        "levers": [lv["lever_id"] for lv in okr["levers"]],
        "net": okr["expected"].get("net_gp", {"mean": 0.0, "p10": 0.0, "p90": 0.0}),
        "last": pack.last_week_score["overall"] if pack.last_week_score else None,
        "pdf": pdf,
    }
