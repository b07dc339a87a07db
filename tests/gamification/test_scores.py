"""TechPower's normalisation and opt-in, kit streaks, and gaming flags on hand-made events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tailguard.errors import InvalidInputError
from tailguard.gamification import (
    FixLedger,
    KitStreaks,
    TechPowerBook,
    TechPowerConfig,
    gaming_flags,
    leaderboard,
)

MONDAY = datetime(2026, 3, 2, 8, tzinfo=UTC)
_COUNTER = iter(range(10**9))


def job(tech: str, code: str, revenue: float, *, fix: bool = True, hours: float = 0.0,
        area: str = "PA-0001", recall_of: str | None = None, original: str | None = None,
        staged: int = 0, used: int = 0, job_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    ts = MONDAY + timedelta(hours=hours)
    return {
        "event_id": f"e{next(_COUNTER)}",
        "type": "job.completed",
        "ts": ts,
        "completed_at": ts,
        "area_id": area,
        "job_id": job_id or f"J{next(_COUNTER)}",
        "tech_id": tech,
        "job_code": code,
        "revenue": revenue,
        "first_time_fix": fix,
        "recall_of_job_id": recall_of,
        "original_tech_id": original,
        "parts_prestaged": staged,
        "parts_used": used,
        "nps": None,
    }


def survey(tech: str, nps: int, area: str = "PA-0001") -> dict[str, Any]:
    return {**job(tech, "?", 0.0, area=area), "type": "cx.survey", "nps": nps}


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC"),
                                                "completed_at": pl.Datetime("us", "UTC")})  # fmt: skip


def test_revenue_is_judged_within_the_job_code() -> None:
    """A fridge tech earning less than a dishwasher tech in dollars still leads when both are
    the best of their code: each z-score is within the code."""
    rows = []
    for tech, code, rev in (("T1", "FR", 500.0), ("T2", "FR", 400.0), ("T3", "DW", 150.0),
                            ("T4", "DW", 100.0)):  # fmt: skip
        rows += [job(tech, code, rev, hours=h) for h in range(3)]
    book = TechPowerBook(TechPowerConfig(fix=0.0, nps=0.0))
    assert book.ingest(frame(rows)) == 12
    scores = book.scores(date(2026, 3, 2)).sort("tech_id")
    z = dict(zip(scores["tech_id"], scores["revenue_z"], strict=True))
    assert z["T1"] == pytest.approx(z["T3"])
    assert z["T2"] == pytest.approx(z["T4"])
    assert z["T1"] == pytest.approx(1 / 2**0.5)  # (x - mean) / sample sd of two values
    tp = dict(zip(scores["tech_id"], scores["techpower"], strict=True))
    assert tp["T1"] == pytest.approx(100 + 15 * z["T1"])
    ranks = dict(zip(scores["tech_id"], scores["area_rank"], strict=True))
    assert {ranks["T1"], ranks["T3"]} == {1}


def test_a_recalled_fix_does_not_score() -> None:
    """T1 records three fixes but one comes back (charged to T1): its net fix rate is 2/3."""
    rows = [job("T1", "FR", 300.0, hours=h) for h in range(3)]
    rows += [job("T2", "FR", 300.0, hours=h) for h in range(3)]
    rows.append(job("T9", "FR", 0.0, fix=False, hours=5, recall_of="J-x", original="T1"))
    book = TechPowerBook(TechPowerConfig(min_jobs=3))
    book.ingest(frame(rows))
    scores = book.scores(date(2026, 3, 2))
    net = dict(zip(scores["tech_id"], scores["net_fix_pct"], strict=True))
    assert net["T1"] == pytest.approx(200 / 3)
    assert net["T2"] == pytest.approx(100.0)
    assert "T9" not in net  # one job: below min_jobs
    fix_z = dict(zip(scores["tech_id"], scores["fix_z"], strict=True))
    assert fix_z["T1"] < 0 < fix_z["T2"]


def test_incremental_ingest_matches_one_batch() -> None:
    """Hour by hour or all at once: the same week's scores."""
    rows = [job(f"T{i % 4}", "FR" if i % 3 else "DW", 100.0 + 7 * i, fix=i % 5 != 0, hours=i)
            for i in range(40)]  # fmt: skip
    rows += [survey(f"T{i % 4}", 6 + i % 5) for i in range(12)]
    whole, parts = TechPowerBook(), TechPowerBook()
    whole.ingest(frame(rows))
    for k in range(0, len(rows), 7):
        parts.ingest(frame(rows[k : k + 7]))
    a = whole.scores(date(2026, 3, 2)).sort("tech_id")
    b = parts.scores(date(2026, 3, 2)).sort("tech_id")
    assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9)  # sums in another order
    assert whole.weeks() == [date(2026, 3, 2)]


def test_only_opted_in_techs_are_listed() -> None:
    """T1 is the best but has not opted in: scored, never shown; the board ranks the rest."""
    rows = []
    for tech, rev in (("T1", 900.0), ("T2", 500.0), ("T3", 300.0)):
        rows += [job(tech, "FR", rev, hours=h) for h in range(3)]
    book = TechPowerBook()
    book.ingest(frame(rows))
    scores = book.scores(date(2026, 3, 2))
    assert "T1" in scores["tech_id"].to_list()
    board = leaderboard(scores, "PA-0001", {"T2", "T3"})
    assert board["tech_id"].to_list() == ["T2", "T3"]
    assert board["board_rank"].to_list() == [1, 2]
    assert leaderboard(scores, "PA-0001", set()).is_empty()


def test_bad_weights_are_refused() -> None:
    """Negative or all-zero weights, a zero scale."""
    for bad in ({"revenue": -1.0}, {"revenue": 0.0, "fix": 0.0, "nps": 0.0}, {"scale": 0.0}):
        with pytest.raises(InvalidInputError):
            TechPowerConfig(**bad)  # type: ignore[arg-type]


def test_ten_fully_used_kits_in_a_row_earn_a_kit() -> None:
    """A miss resets; jobs with nothing pre-staged neither count nor break the streak."""
    rows = [job("T1", "FR", 1.0, hours=h, staged=2, used=2) for h in range(9)]
    rows.append(job("T1", "FR", 1.0, hours=9.5, staged=0, used=0))  # neutral
    rows.append(job("T1", "FR", 1.0, hours=10, staged=1, used=1))  # the tenth
    rows += [job("T2", "FR", 1.0, hours=h, staged=1, used=1) for h in range(5)]
    rows.append(job("T2", "FR", 1.0, hours=6, staged=2, used=1))  # a miss
    streaks = KitStreaks(length=10)
    awards = streaks.ingest(frame(rows))
    assert [(a.tech_id, a.streak) for a in awards] == [("T1", 10)]
    assert streaks.current == {"T1": 0, "T2": 0}
    more = streaks.ingest(frame([job("T2", "FR", 1.0, hours=20 + h, staged=1, used=1)
                                 for h in range(10)]))  # fmt: skip
    assert [a.tech_id for a in more] == ["T2"]
    with pytest.raises(InvalidInputError):
        KitStreaks(length=1)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_a_streak_never_exceeds_its_length(jobs: list[tuple[int, int]]) -> None:
    """Whatever the sequence, the current streak stays below the length and every award is
    exactly ``length`` full jobs."""
    rows = [job("T1", "FR", 1.0, hours=i, staged=s, used=u) for i, (s, u) in enumerate(jobs)]
    streaks = KitStreaks(length=4)
    awards = streaks.ingest(frame(rows)) if rows else []
    full = sum(1 for s, u in jobs if s > 0 and u >= s)
    assert all(a.streak == 4 for a in awards)
    assert len(awards) <= full // 4
    assert streaks.current.get("T1", 0) < 4


def _history(ledger: FixLedger, tech: str, *, visits: int, unfixed: int, recalls: int,
             start: float, tag: str) -> list[dict[str, Any]]:  # fmt: skip
    """``visits`` first visits of ``tech`` from hour ``start``, the first ``unfixed`` recorded
    unfixed, and the recalls (a day later) of the first ``recalls`` fixes."""
    rows, back = [], []
    for k in range(visits):
        jid = f"{tag}-{tech}-{k}"
        fixed = k >= unfixed
        rows.append(job(tech, "FR", 1.0, hours=start + k, job_id=jid, fix=fixed))
        if fixed and k - unfixed < recalls:
            back.append(job("T99", "FR", 0.0, hours=start + k + 24, recall_of=jid, original=tech))
    ledger.ingest(frame(rows))
    return back


def test_a_tech_whose_fixes_turn_into_recalls_after_the_reward_is_flagged() -> None:
    """Before the reward every tech leaves 6 of 30 first visits unfixed and 1 fix comes back.
    After it, T0 leaves none unfixed and 12 of 30 fixes come back: flagged. T1 recalled
    a lot before and after (an honest, weak tech): not flagged, its own baseline explains
    it. A tech with too few visits since the reward is not tested."""
    ledger = FixLedger(window_days=30)
    reward = MONDAY + timedelta(days=40)
    recalls: list[dict[str, Any]] = []
    for t in range(12):
        before = 6 if t == 1 else 1
        recalls += _history(ledger, f"T{t}", visits=30, unfixed=6, recalls=before, start=0,
                            tag="pre")  # fmt: skip
        after = {0: 12, 1: 6}.get(t, 1)
        recalls += _history(ledger, f"T{t}", visits=30, unfixed=0 if t == 0 else 6,
                            recalls=after, start=40 * 24, tag="post")  # fmt: skip
    _history(ledger, "T50", visits=3, unfixed=0, recalls=3, start=40 * 24, tag="few")
    ledger.ingest(frame(recalls))
    per_tech = ledger.frame(MONDAY + timedelta(days=80), since=reward)
    flags = gaming_flags(per_tech).sort("tech_id")
    assert flags.filter(pl.col("flagged"))["tech_id"].to_list() == ["T0"]
    t0 = flags.filter(pl.col("tech_id") == "T0").row(0, named=True)
    assert (t0["visits"], t0["unfixed"], t0["recalled"]) == (30, 0, 12)
    assert (t0["visits_before"], t0["unfixed_before"], t0["recalled_before"]) == (30, 6, 1)
    assert t0["ratio"] > 3
    assert flags.filter(pl.col("tech_id") == "T50")["p"].to_list() == [None]
    ledger.forget(MONDAY + timedelta(days=100))
    assert ledger.frame(MONDAY + timedelta(days=100)).is_empty()


def test_fresh_fixes_count_by_the_share_of_their_window_that_has_passed() -> None:
    """A fix is not judged in its first two days; halfway through its 30 days it counts half;
    after the window, and once it came back, it counts whole."""
    ledger = FixLedger(window_days=30, lag_days=2)
    ledger.ingest(frame([job("T1", "FR", 1.0, hours=0, job_id="a"),
                         job("T1", "FR", 1.0, hours=0, job_id="b"),
                         job("T1", "FR", 1.0, hours=0, job_id="c", fix=False)]))  # fmt: skip
    assert ledger.frame(MONDAY + timedelta(days=1))["exposure"].item() == 0.0
    assert ledger.frame(MONDAY + timedelta(days=17))["exposure"].item() == pytest.approx(1.0)
    ledger.ingest(frame([job("T9", "FR", 0.0, hours=48, recall_of="a", original="T1")]))
    assert ledger.frame(MONDAY + timedelta(days=17)).filter(pl.col("tech_id") == "T1")[
        "exposure"
    ].item() == pytest.approx(1.5)
    assert ledger.frame(MONDAY + timedelta(days=40)).filter(pl.col("tech_id") == "T1")[
        "exposure"
    ].item() == pytest.approx(2.0)
    with pytest.raises(InvalidInputError):
        gaming_flags(ledger.frame(MONDAY), q=0.0)
