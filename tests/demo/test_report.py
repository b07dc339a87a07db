"""The demo's offline report: self-contained, complete, and showing the figures it is given.

The frames are small but shaped as the demo writes them (nulls included); ``summary`` is
computed here from the frames, and the control-plane KPIs come from a real SQLite ledger built
from the same gates, so every number the tests look for is derived, not typed in.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tailguard.clock import FakeClock, format_ts
from tailguard.demo.report import render_report
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.metrics.kpis import KPIS
from tailguard.rules.guardbands import GUARD_BANDS

T0 = datetime(2026, 1, 5, tzinfo=UTC)
AREAS = 6
HOURS = 48
SECTIONS = (
    "headline",
    "contents",
    "guard-band-kpis",
    "inside-guard-bands",
    "interventions",
    "approvals",
    "control-plane",
    "weekly-packs",
    "about",
)
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "area", "base", "wbr"}

# --- fixtures: frames as the demo writes them ---------------------------------------------------

CENTRES = {
    "lateness_p90_min": (21.0, 5.0),
    "nps_p10": (7.1, 0.5),
    "earnings_p10_week": (705.0, 40.0),
    "churn_90d_pct": (7.0, 1.5),
    "recall_pct_p90": (9.0, 2.0),
    "parts_cost_delta_p90_pct": (14.0, 3.0),
    "jobs_per_week": (250.0, 40.0),
    "gp_pct": (17.0, 3.0),
}


def make_hourly(*, areas: int = AREAS, hours: int = HOURS) -> pl.DataFrame:
    """Both arms; the on arm drifts toward the inside; some KPIs are null in some area-hours."""
    rng = np.random.default_rng(7)
    rows: dict[str, list[Any]] = {"arm": [], "hour": [], "area_id": []}
    rows |= {kpi: [] for kpi in CENTRES}
    for arm in ("on", "off"):
        for a in range(areas):
            for h in range(hours):
                rows["arm"].append(arm)
                rows["hour"].append(T0 + timedelta(hours=h))
                rows["area_id"].append(f"A{a:03d}")
                for kpi, (centre, spread) in CENTRES.items():
                    value = centre + rng.normal(0, spread)
                    if arm == "on":
                        value -= 0.3 * spread * (1 if kpi in ("lateness_p90_min",) else -1)
                    null = (kpi == "recall_pct_p90" and (a + h) % 5 == 0) or (
                        kpi == "nps_p10" and a == 0 and h < 6
                    )
                    rows[kpi].append(None if null else float(value))
    frame = pl.DataFrame(rows, schema_overrides=dict.fromkeys(CENTRES, pl.Float64))
    frame = frame.with_columns(pl.col("hour").dt.replace_time_zone("UTC"))
    ops = {"<": pl.Expr.lt, "<=": pl.Expr.le, ">": pl.Expr.gt, ">=": pl.Expr.ge}
    frame = frame.with_columns(
        (
            ops[b.inside_op](pl.col(b.kpi), b.bound)
            if b.kind == "threshold"
            else pl.lit(None, pl.Boolean)
        ).alias(f"inside_{b.id}")
        for b in GUARD_BANDS
    )
    return frame.with_columns(
        pl.all_horizontal(pl.col(f"inside_{b.id}").fill_null(True) for b in GUARD_BANDS).alias(
            "inside_all"
        )
    )


def make_interventions() -> pl.DataFrame:
    """Three kinds, every status, some outcomes measured and some not."""
    kinds = [
        ("surge_shift_offer", "corey_offer_surge_shift", "earnings_p10_week", 35.0, 5.0),
        ("routing_traffic_boost", "roster_boost_traffic_weight", "lateness_p90_min", 0.0, 3.0),
        ("apology_credit", "cx_apology_credit", "nps_p10", 15.0, 0.0),
    ]
    statuses = ["executed", "executed", "executed", "rejected", "timeout", "failed", "skipped"]
    rng = np.random.default_rng(3)
    rows = []
    for i in range(42):
        kind, tool, kpi, cost, effect = kinds[i % 3]
        status = statuses[i % len(statuses)]
        measured = status == "executed" and i % 4 != 0
        decided = T0 + timedelta(hours=i)
        rows.append(
            {
                "decision_id": f"d{i}",
                "area_id": f"A{i % AREAS:03d}",
                "kind": kind,
                "tool_name": tool,
                "target_type": "tech",
                "target_id": f"T{i}",
                "decided_at": decided,
                "propensity": 0.8,
                "policy_version": "greedy-v1",
                "status": status,
                "reason": "tail rule fired",
                "cost_usd": cost if status == "executed" else 0.0,
                "outcome_kpi": kpi if measured else None,
                "outcome_delta": float(rng.normal(effect, 1.5)) if measured else None,
                "measured_at": decided + timedelta(hours=24) if measured else None,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"outcome_delta": pl.Float64})


def make_approvals(interventions: pl.DataFrame) -> pl.DataFrame:
    """One gate per money or message intervention that reached a gate, plus one still pending."""
    decision_of = {"executed": "approved", "rejected": "rejected", "timeout": "timeout"}
    rows = []
    gated = interventions.filter(
        pl.col("kind").is_in(["surge_shift_offer", "apology_credit"])
        & pl.col("status").is_in(list(decision_of))
    )
    for i, row in enumerate(gated.iter_rows(named=True)):
        decision = decision_of[row["status"]]
        latency = 240.0 if decision == "timeout" else 5.0 + 3 * i
        rows.append(
            {
                "gate_id": f"g{i}",
                "area_id": row["area_id"],
                "tool_name": row["tool_name"],
                "risk_level": "execute_high",
                "presented_at": row["decided_at"],
                "decided_at": row["decided_at"] + timedelta(minutes=latency),
                "decision": decision,
                "decided_by": "sim-approver" if decision != "timeout" else None,
                "latency_min": latency,
            }
        )
    rows.append(
        {
            "gate_id": "g-pending",
            "area_id": "A000",
            "tool_name": "cx_apology_credit",
            "risk_level": "execute_high",
            "presented_at": T0 + timedelta(hours=47),
            "decided_at": None,
            "decision": "pending",
            "decided_by": None,
            "latency_min": None,
        }
    )
    return pl.DataFrame(rows, schema_overrides={"latency_min": pl.Float64})


def build_ledger(path: Path, approvals: pl.DataFrame, *, bypass: bool = False) -> dict[str, Any]:
    """A real ledger with one run per gate (a step executed only when approved); its KPIs."""
    clock = FakeClock(T0)
    with Ledger.open(f"sqlite:///{path}", clock=clock) as ledger:
        for i, gate in enumerate(approvals.iter_rows(named=True)):
            run_id, step_id = f"r{i}", f"s{i}"
            started = format_ts(clock.now())
            run = {
                "run_id": run_id, "conversation_id": f"c{i}", "initiator_id": "area-agent",
                "role": "area_ceo", "goal_text": "prune a tail", "status": "running",
                "total_tokens": 0, "total_cost_usd": 0.0, "steps_count": 0,
                "started_at": started, "completed_at": None, "sla_ms": 60000,
            }  # fmt: skip
            ledger.append("run", run)
            ledger.append(
                "gate",
                {"gate_id": gate["gate_id"], "run_id": run_id, "step_id": step_id,
                 "tool_name": gate["tool_name"], "reason": "execute_high tool",
                 "risk_level": "execute_high", "presented_at": started,
                 "decision": gate["decision"], "decided_by": gate["decided_by"],
                 "decided_at": None if gate["decided_at"] is None else started},
            )  # fmt: skip
            status = "executed" if gate["decision"] == "approved" else "skipped"
            clock.advance(1.0)
            ledger.append(
                "step",
                {"step_id": step_id, "run_id": run_id, "tool_name": gate["tool_name"],
                 "risk_level": "execute_high", "args_hash": "ab" * 32, "result_summary": "ok",
                 "latency_ms": 5.0, "retries": 0, "status": status,
                 "approval_gate_id": gate["gate_id"]},
            )  # fmt: skip
            done = "completed" if gate["decision"] != "pending" else "waiting_approval"
            ledger.append(
                "run",
                {**run, "status": done, "total_cost_usd": 0.01, "steps_count": 1,
                 "completed_at": format_ts(clock.now())},
            )  # fmt: skip
        if bypass:
            ledger.append(
                "step",
                {"step_id": "s-bypass", "run_id": "r0", "tool_name": "cx_apology_credit",
                 "risk_level": "execute_high", "args_hash": "cd" * 32, "result_summary": "sent",
                 "latency_ms": 5.0, "retries": 0, "status": "executed",
                 "approval_gate_id": None},
            )  # fmt: skip
        return control_plane_kpis(ledger)


def summary_from(
    hourly: pl.DataFrame, interventions: pl.DataFrame, approvals: pl.DataFrame
) -> dict[str, Any]:
    """summary.json as the demo computes it, from the same frames."""
    arms: dict[str, Any] = {}
    for arm in ("on", "off"):
        part = hourly.filter(pl.col("arm") == arm)
        last = part.filter(pl.col("hour") == part["hour"].max())
        bands = {}
        for b in GUARD_BANDS:
            flags = [v for v in part[f"inside_{b.id}"].to_list() if v is not None]
            bands[b.id] = 100.0 * sum(flags) / len(flags) if flags else None
        arms[f"agents_{arm}"] = {
            "guardband_pass_pct": 100.0 * sum(part["inside_all"].to_list()) / part.height,
            "kpis": {b.kpi: last[b.kpi].median() for b in GUARD_BANDS},
            "band_pass_pct": bands,
        }
    by_kind: dict[str, Any] = {}
    for row in interventions.iter_rows(named=True):
        k = by_kind.setdefault(
            row["kind"],
            {"count": 0, "executed": 0, "rejected": 0, "timeout": 0, "failed": 0,
             "cost_usd": 0.0, "_deltas": []},
        )  # fmt: skip
        k["count"] += 1
        if row["status"] in k:
            k[row["status"]] += 1
        k["cost_usd"] += row["cost_usd"]
        if row["outcome_delta"] is not None:
            k["_deltas"].append(row["outcome_delta"])
    for k in by_kind.values():
        deltas = k.pop("_deltas")
        k["mean_outcome_delta"] = statistics.fmean(deltas) if deltas else None
    decisions = approvals["decision"].to_list() if approvals.height else []
    latencies = [
        r["latency_min"]
        for r in approvals.iter_rows(named=True)
        if r["decision"] != "pending" and r["latency_min"] is not None
    ]
    return {
        "areas": hourly["area_id"].n_unique(),
        "weeks": 1,
        "seed": 42,
        "start": format_ts(T0),
        "end": format_ts(T0 + timedelta(hours=HOURS)),
        **arms,
        "interventions": {"total": interventions.height, "by_kind": by_kind},
        "approvals": {
            **{d: decisions.count(d) for d in ("approved", "rejected", "timeout", "pending")},
            "bypasses": 0,
            "median_latency_min": statistics.median(latencies) if latencies else None,
        },
        "ledger": {"records": 4 * approvals.height, "verified": True},
        "wall_seconds": {"agents on": 12.5, "agents off": 4.0},
    }


@dataclass
class Page:
    """What the parser keeps of the HTML: elements by id with their text, and every tag."""

    text_by_id: dict[str, str] = field(default_factory=dict)
    classes_by_id: dict[str, str] = field(default_factory=dict)
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    style: str = ""

    def text(self, element_id: str) -> str:
        """The normalised text of the element with this id."""
        assert element_id in self.text_by_id, f"no element with id {element_id!r}"
        return " ".join(self.text_by_id[element_id].split())


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[tuple[str, str | None]] = []
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.page.tags.append((tag, values))
        if "id" in values:
            self.page.text_by_id.setdefault(values["id"], "")
            self.page.classes_by_id[values["id"]] = values.get("class", "")
        self.in_style = tag == "style"
        if tag not in VOID:
            self.stack.append((tag, values.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self.in_style = False
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.page.style += data
        for _, element_id in self.stack:
            if element_id is not None:
                self.page.text_by_id[element_id] += data + " "


def parse(path: Path) -> Page:
    """Parse the report."""
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    collector.close()
    return collector.page


@dataclass
class Demo:
    """One rendered report and the inputs it came from."""

    out: Path
    page: Page
    summary: dict[str, Any]
    hourly: pl.DataFrame
    interventions: pl.DataFrame
    approvals: pl.DataFrame
    control: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The report of the fixture frames, rendered once for the module."""
    root = tmp_path_factory.mktemp("report")
    hourly, interventions = make_hourly(), make_interventions()
    approvals = make_approvals(interventions)
    control = build_ledger(root / "ledger.db", approvals)
    summary = summary_from(hourly, interventions, approvals)
    out = root / "out"
    path = render_report(
        out, summary=summary, hourly=hourly, interventions=interventions, approvals=approvals,
        control_kpis=control, week_links=[("Week 1 index", "weeks/2026-01-12/index.html")],
    )  # fmt: skip
    assert path == out / "report.html"
    return Demo(out, parse(path), summary, hourly, interventions, approvals, control)


# --- tests ----------------------------------------------------------------------------------------


def test_report_loads_nothing_from_the_network(demo: Demo) -> None:
    """No tag points outside the file: no remote src/href, no script, no stylesheet link."""
    for tag, attrs in demo.page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name in ("src", "href", "xlink:href", "data"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, name, value)
    assert "url(" not in demo.page.style
    assert "@import" not in demo.page.style
    assert sum(1 for tag, _ in demo.page.tags if tag == "svg") >= len(GUARD_BANDS) + 4


def test_report_is_the_only_file_written(demo: Demo) -> None:
    """The output directory holds report.html and nothing else (no partial file left)."""
    assert sorted(p.name for p in demo.out.iterdir()) == ["report.html"]


def test_every_section_band_and_contents_link_is_present(demo: Demo) -> None:
    """Every section and every guard-band has its element, and every contents link resolves."""
    ids = set(demo.page.text_by_id)
    for section in SECTIONS:
        assert section in ids, section
    for band in GUARD_BANDS:
        assert f"band-{band.id}" in ids, band.id
        assert f"share-{band.id}" in ids, band.id
        assert band.doc in demo.page.text(f"band-{band.id}")
    assert "share-all" in ids
    anchors = [a["href"][1:] for t, a in demo.page.tags if t == "a" and a["href"].startswith("#")]
    assert len(anchors) >= len(SECTIONS) - 2 + len(GUARD_BANDS)
    assert set(anchors) <= ids


def test_headline_shows_the_summary_figures(demo: Demo) -> None:
    """Pass % on and off, the lift, interventions, spend and the ledger come from summary."""
    on = demo.summary["agents_on"]["guardband_pass_pct"]
    off = demo.summary["agents_off"]["guardband_pass_pct"]
    assert demo.page.text("pass-on") == f"{on:.1f} %"
    assert demo.page.text("pass-off") == f"{off:.1f} %"
    assert demo.page.text("pass-lift") == f"{on - off:+.1f} pp"
    assert demo.page.text("interventions-total") == f"{demo.interventions.height:,}"
    executed = demo.interventions.filter(pl.col("status") == "executed").height
    assert demo.page.text("interventions-executed") == f"{executed:,}"
    spend = sum(k["cost_usd"] for k in demo.summary["interventions"]["by_kind"].values())
    assert demo.page.text("spend") == (f"${spend:,.2f}" if spend < 1000 else f"${spend:,.0f}")
    assert demo.page.text("ledger-verified") == "✓ verified"
    assert f"{T0:%Y-%m-%d %H:%M} UTC" in demo.page.text("headline")
    assert demo.page.text("ledger-records") == f"{demo.summary['ledger']['records']:,}"
    assert "consistency" not in demo.page.text_by_id


def test_bypasses_are_shown_prominently_as_zero(demo: Demo) -> None:
    """Zero bypasses appears in the headline and in the approvals section, marked good."""
    assert demo.control["overall"]["approval_bypass_count"] == 0
    for element in ("bypasses", "approvals-bypasses"):
        assert demo.page.text(element) == "0"
    assert demo.page.text("cp-approval-bypass-count").startswith("approval bypasses 0")


def test_each_band_shows_its_values_and_shares(demo: Demo) -> None:
    """Per band: the summary's network value per arm and the share of area-hours inside."""
    for band in GUARD_BANDS:
        for arm in ("on", "off"):
            pct = demo.summary[f"agents_{arm}"]["band_pass_pct"][band.id]
            shown = demo.page.text(f"pass-{arm}-{band.id}")
            assert shown == ("n/a" if pct is None else f"{pct:.1f} %"), (band.id, arm)
            value = demo.summary[f"agents_{arm}"]["kpis"][band.kpi]
            cell = demo.page.text(f"value-{arm}-{band.id}")
            number = float(cell.replace("$", "").replace(",", "").split()[0])
            digits = 0 if band.kpi in ("earnings_p10_week", "jobs_per_week") else 1
            assert number == round(value, digits), (band.id, arm, cell)
    all_row = demo.page.text("share-all")
    on = demo.summary["agents_on"]["guardband_pass_pct"]
    assert f"{on:.1f} %" in all_row
    assert demo.page.text("share-jobs_growth").count("n/a") >= 3


def test_intervention_kinds_show_counts_cost_and_intervals(demo: Demo) -> None:
    """Per kind: decisions, executed and cost from summary; mean change and its 95 % interval."""
    verdicts = set()
    for kind, stated in demo.summary["interventions"]["by_kind"].items():
        row = demo.page.text(f"kind-{kind}").split()
        assert row[0] == kind
        assert row[2:4] == [f"{stated['count']:,}", f"{stated['executed']:,}"]
        assert row[-1] == f"${stated['cost_usd']:,.2f}"
        deltas = (
            demo.interventions.filter((pl.col("kind") == kind) & pl.col("outcome_delta").is_not_null())[
                "outcome_delta"
            ].to_list()
        )  # fmt: skip
        outcome = demo.page.text(f"outcome-{kind}")
        assert f"{len(deltas):,}" in outcome.split()
        mean = statistics.fmean(deltas)
        half = 1.96 * statistics.stdev(deltas) / math.sqrt(len(deltas))
        assert f"{mean:,.2f}" in outcome
        assert f"[{mean - half:,.2f}, {mean + half:,.2f}]" in outcome
        lo, hi = mean - half, mean + half
        kpi = demo.interventions.filter(pl.col("kind") == kind)["outcome_kpi"].drop_nulls()[0]
        verdict = "improved" if (lo > 0) == KPIS[kpi].higher_is_better else "worsened"
        assert outcome.split()[-1] == ("unclear" if lo <= 0 <= hi else verdict), kind
        verdicts.add(outcome.split()[-1])
    assert verdicts == {"improved", "worsened", "unclear"}


def test_approvals_and_control_plane_show_ledger_figures(demo: Demo) -> None:
    """Approval counts match the frame; the override rate matches the ledger's gates."""
    counts = demo.approvals["decision"].value_counts()
    by = dict(zip(counts["decision"], counts["count"], strict=True))
    for decision in ("approved", "rejected", "timeout", "pending"):
        assert demo.page.text(f"approvals-{decision}") == f"{by.get(decision, 0):,}"
    decided = by.get("approved", 0) + by.get("rejected", 0) + by.get("timeout", 0)
    rate = 100.0 * by.get("rejected", 0) / decided
    assert demo.page.text("cp-human-override-rate").split()[3:5] == [f"{rate:.1f}", "%"]
    median = demo.summary["approvals"]["median_latency_min"]
    assert demo.page.text("median-latency") == f"{median:,.1f}"
    assert demo.page.text("week-links") == "Week 1 index"
    links = [a["href"] for t, a in demo.page.tags if t == "a" and not a["href"].startswith("#")]
    assert links == ["weeks/2026-01-12/index.html"]


def test_empty_interventions_and_zero_approvals_still_render(tmp_path: Path) -> None:
    """With no decision, no gate and a KPI never measured, the sections say so; bypasses 0."""
    hourly = make_hourly(areas=3, hours=6).with_columns(
        pl.lit(None, pl.Float64).alias("churn_90d_pct"),
        pl.lit(None, pl.Boolean).alias("inside_churn"),
    )
    interventions = make_interventions().clear()
    approvals = make_approvals(make_interventions()).clear()
    control = build_ledger(tmp_path / "ledger.db", approvals)
    summary = summary_from(hourly, interventions, approvals)
    page = parse(
        render_report(
            tmp_path / "out", summary=summary, hourly=hourly, interventions=interventions,
            approvals=approvals, control_kpis=control,
        )
    )  # fmt: skip
    assert "no-interventions" in page.text_by_id
    assert "no-approvals" in page.text_by_id
    assert "no-week-links" in page.text_by_id
    assert "churn_90d_pct" in page.text("no-data-churn")
    assert "no-data-lateness" not in page.text_by_id
    assert page.text("bypasses") == "0"
    assert page.text("approvals-bypasses") == "0"
    assert page.text("interventions-total") == "0"
    assert page.text("spend") == "$0.00"
    for decision in ("approved", "rejected", "timeout", "pending"):
        assert page.text(f"approvals-{decision}") == "0"
    for section in SECTIONS:
        assert section in page.text_by_id


def test_a_bypass_in_the_ledger_raises_the_alarm(tmp_path: Path) -> None:
    """A high-risk step without an approved gate shows as a red bypass count and an alert."""
    hourly, interventions = make_hourly(areas=2, hours=4), make_interventions()
    approvals = make_approvals(interventions)
    control = build_ledger(tmp_path / "ledger.db", approvals, bypass=True)
    summary = summary_from(hourly, interventions, approvals)
    summary["approvals"]["bypasses"] = control["overall"]["approval_bypass_count"]
    page = parse(
        render_report(
            tmp_path / "out", summary=summary, hourly=hourly, interventions=interventions,
            approvals=approvals, control_kpis=control,
        )
    )  # fmt: skip
    assert page.text("bypasses") == "1"
    assert "must be 0" in page.text("control-alerts")
    assert "consistency" not in page.text_by_id


def test_disagreeing_summary_is_listed_under_consistency_checks(tmp_path: Path) -> None:
    """A summary figure that the frames contradict is shown, and the disagreement is listed."""
    hourly, interventions = make_hourly(areas=2, hours=4), make_interventions()
    approvals = make_approvals(interventions)
    summary = summary_from(hourly, interventions, approvals)
    summary["agents_on"]["guardband_pass_pct"] += 10.0
    summary["interventions"]["total"] += 1
    page = parse(
        render_report(
            tmp_path / "out", summary=summary, hourly=hourly, interventions=interventions,
            approvals=approvals, control_kpis=build_ledger(tmp_path / "l.db", approvals),
        )
    )  # fmt: skip
    assert page.text("pass-on") == f"{summary['agents_on']['guardband_pass_pct']:.1f} %"
    checks = page.text("consistency")
    assert "inside 'all' with agents on" in checks
    assert f"summary.json says {summary['interventions']['total']}" in checks


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("inside_nps"), "inside_nps"),
        (lambda f: f.with_columns(pl.lit("maybe").alias("arm")), "unknown arm"),
    ],
)
def test_malformed_hourly_frame_is_refused(tmp_path: Path, change: Any, message: str) -> None:
    """A frame that breaks the contract raises InvalidInputError naming the problem."""
    hourly = change(make_hourly(areas=2, hours=2))
    empty = pl.DataFrame()
    with pytest.raises(InvalidInputError, match=message):
        render_report(
            tmp_path, summary={}, hourly=hourly, interventions=empty, approvals=empty,
            control_kpis={},
        )  # fmt: skip
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("href", ["https://example.com/pack.html", "/etc/pack.html", "file:x"])
def test_week_links_must_be_relative(tmp_path: Path, href: str) -> None:
    """A weekly link with a scheme or an absolute path is refused."""
    empty = pl.DataFrame()
    with pytest.raises(InvalidInputError, match="relative href"):
        render_report(
            tmp_path, summary={}, hourly=empty, interventions=empty, approvals=empty,
            control_kpis={}, week_links=[("week", href)],
        )  # fmt: skip


def test_missing_summary_figures_read_n_a(tmp_path: Path) -> None:
    """An empty summary and empty frames render, with n/a where a figure is missing."""
    empty = pl.DataFrame()
    page = parse(
        render_report(
            tmp_path, summary={}, hourly=empty, interventions=empty, approvals=empty,
            control_kpis={},
        )
    )  # fmt: skip
    assert page.text("pass-on") == "n/a"
    assert page.text("ledger-verified") == "n/a"
    assert page.text("bypasses") == "n/a"
    for band in GUARD_BANDS:
        assert f"band-{band.id}" in page.text_by_id


def test_the_learning_curve_shows_each_week_with_its_version(tmp_path: Path) -> None:
    """Each week's paired gain, its interval and the policy version in force; rollbacks named."""
    hourly, interventions = make_hourly(areas=3, hours=6), make_interventions()
    approvals = make_approvals(interventions)
    control = build_ledger(tmp_path / "ledger.db", approvals)
    summary = summary_from(hourly, interventions, approvals)
    summary["policy"] = "learning"
    summary["learning_curve"] = [
        {"week": 1, "guardband_gain_points": -0.5, "ci95": [-1.2, 0.3], "policy_version": "lp-1"},
        {"week": 2, "guardband_gain_points": 2.25, "ci95": [0.5, 4.0], "policy_version": "lp-9"},
    ]
    summary["policy_versions"] = {
        "count": 9,
        "rollbacks": [{"at": "2026-01-10T00:00:00", "from": "lp-5", "to": "lp-4"}],
    }
    page = parse(
        render_report(
            tmp_path / "out", summary=summary, hourly=hourly, interventions=interventions,
            approvals=approvals, control_kpis=control,
        )
    )  # fmt: skip
    assert page.text("learning-curve") == "Learning curve (policy: learning)"
    assert page.text("learning-week-1") == "1 -0.50 -1.20 to +0.30 lp-1"
    assert page.text("learning-week-2") == "2 +2.25 +0.50 to +4.00 lp-9"
    assert "lp-5" in page.text("rollbacks")


def test_interventions_that_hurt_are_explained_under_did_it_help(tmp_path: Path) -> None:
    """Each harmful arm in a sentence with its context, effect, interval and whether the policy
    stopped it; with the fixed weights the report says why nothing could be judged."""
    from tailguard.demo.business import business_figures

    hourly, interventions = make_hourly(areas=3, hours=6), make_interventions()
    approvals = make_approvals(interventions)
    control = build_ledger(tmp_path / "ledger.db", approvals)
    summary = summary_from(hourly, interventions, approvals)
    summary["business"] = business_figures(hourly, spend_usd=100.0)
    harmful = {
        "group": "late_zip_routing_boost", "bucket": "rural|-", "arm": "late_zip_routing_boost",
        "kpi": "lateness_p90_min", "effect": -0.61, "ci95": [-0.9, -0.32], "n": 40,
        "hold_n": 22, "share_first_week": 0.7, "share_last_week": 0.05, "stopped": True,
    }  # fmt: skip
    summary["business"]["harmful_interventions"] = {
        "comparable": True, "harmful": [harmful], "judged": 9,
    }  # fmt: skip
    page = parse(
        render_report(
            tmp_path / "out", summary=summary, hourly=hourly, interventions=interventions,
            approvals=approvals, control_kpis=control,
        )
    )  # fmt: skip
    text = page.text("harmful-list")
    assert "late_zip_routing_boost in rural areas moved lateness_p90_min by -0.61" in text
    assert "-0.90 to -0.32" in text
    assert "40 decisions acted, 22 held" in text
    assert "the policy stopped it: 70 % of that context's decisions in the first week, 5 %" in text

    summary["business"]["harmful_interventions"] = {
        "comparable": False, "harmful": [], "judged": 0,
    }  # fmt: skip
    fixed = (tmp_path / "out2").as_posix()
    html = render_report(
        Path(fixed), summary=summary, hourly=hourly, interventions=interventions,
        approvals=approvals, control_kpis=control,
    ).read_text()  # fmt: skip
    assert "with the fixed weights no decision holds" in html
