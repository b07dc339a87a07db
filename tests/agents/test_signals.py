"""The agent's own signals on small hand-built event frames (WIDE_SCHEMA columns it reads)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from tailguard.agents.signals import SIGNAL_SPECS, SignalConfig, Signals
from tailguard.events.schema import WIDE_SCHEMA

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    empty = pl.from_arrow(WIDE_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    if not rows:
        return empty
    return pl.concat([empty, pl.DataFrame(rows)], how="diagonal_relaxed").select(empty.columns)


def _feed(
    sig: Signals, rows: list[dict[str, Any]], until: datetime, since: datetime | None = None
) -> None:
    """Feed rows hour by hour (each row in the hour its ``ts`` falls in) up to ``until``."""
    start = since or min((r["ts"] for r in rows), default=until).replace(minute=0, second=0)
    hour = start
    while hour < until:
        nxt = hour + timedelta(hours=1)
        sig.update(_frame([r for r in rows if hour <= r["ts"] < nxt]), nxt)
        hour = nxt


def _stock(ts: datetime, sku: str, lead: float, area: str = "PA-0001") -> dict[str, Any]:
    return {
        "type": "parts.stock",
        "ts": ts,
        "area_id": area,
        "locker_id": "L00001",
        "sku": sku,
        "on_hand": 3,
        "lead_time_days": lead,
    }


def test_a_sku_lead_time_spike_against_its_own_baseline() -> None:
    rows = [_stock(T0 + timedelta(hours=h), "R-9923", 2.4) for h in range(0, 48, 4)]
    rows += [_stock(T0 + timedelta(hours=h), "M-1", 8.0) for h in range(0, 48, 4)]
    sig = Signals()
    _feed(sig, rows, T0 + timedelta(hours=49))
    assert sig.sku_lead_time_spikes().is_empty()  # a SKU that is always slow is not a spike
    spike = T0 + timedelta(hours=49, minutes=10)
    _feed(
        sig, [_stock(spike, "R-9923", 9.6), _stock(spike, "M-1", 8.5)], spike + timedelta(hours=1)
    )
    got = sig.sku_lead_time_spikes()
    assert got["sku"].to_list() == ["R-9923"]
    assert got["lead_spike_ratio"][0] >= 2.0
    # Too few baseline events: a SKU seen only twice before is not judged.
    fresh = Signals()
    _feed(
        fresh,
        [_stock(T0, "X", 1.0), _stock(T0 + timedelta(hours=1), "X", 1.0)],
        T0 + timedelta(hours=10),
    )
    _feed(fresh, [_stock(T0 + timedelta(hours=10), "X", 9.0)], T0 + timedelta(hours=11))
    assert fresh.sku_lead_time_spikes().is_empty()


def test_the_spike_floor_keeps_short_lead_times_quiet() -> None:
    sig = Signals(SignalConfig(lead_spike_floor_days=2.0))
    rows = [_stock(T0 + timedelta(hours=h), "S", 0.5) for h in range(0, 24, 3)]
    rows.append(_stock(T0 + timedelta(hours=30), "S", 2.0))  # 4x, but only 1.5 days longer
    _feed(sig, rows, T0 + timedelta(hours=31))
    assert sig.sku_lead_time_spikes().is_empty()


def _job(day: datetime, tech: str, pay: float, area: str = "PA-0001") -> dict[str, Any]:
    return {
        "type": "job.completed",
        "ts": day + timedelta(hours=12),
        "area_id": area,
        "tech_id": tech,
        "tech_pay": pay,
    }


def _shift(day: datetime, tech: str, area: str = "PA-0001") -> dict[str, Any]:
    return {
        "type": "tech.status",
        "ts": day + timedelta(hours=7),
        "area_id": area,
        "tech_id": tech,
        "status": "available",
    }


def test_an_earnings_decline_of_a_bottom_earner() -> None:
    rows: list[dict[str, Any]] = []
    for d in range(9):
        day = T0 + timedelta(days=d)
        for i in range(10):  # ten steady techs earning $300 a day
            rows += [_shift(day, f"T{i:06d}"), _job(day, f"T{i:06d}", 300.0)]
        rows.append(_shift(day, "T000099"))  # the low earner works every day...
        if d < 7:
            rows.append(_job(day, "T000099", 120.0))  # ...for $120 a day, then nothing
    sig = Signals()
    _feed(
        sig, [r for r in rows if r["ts"] < T0 + timedelta(days=8)], T0 + timedelta(days=7, hours=23)
    )
    assert sig.earnings_declines().is_empty()  # the first day without pay is not closed yet
    _feed(sig, [], T0 + timedelta(days=8, hours=1), since=T0 + timedelta(days=7, hours=23))
    got = sig.earnings_declines()
    assert got["tech_id"].to_list() == ["T000099"]
    assert got["recent_pay_per_day"][0] == 60.0  # the last two worked days: $120 and $0
    assert got["usual_pay_per_day"][0] == 120.0
    assert got["pace_ratio"][0] == 0.5


def test_a_day_off_is_not_a_decline_and_a_top_earner_is_not_a_bottom_earner() -> None:
    rows: list[dict[str, Any]] = []
    for d in range(9):
        day = T0 + timedelta(days=d)
        for i in range(10):
            rows += [_shift(day, f"T{i:06d}"), _job(day, f"T{i:06d}", 100.0)]
        if d < 7:  # the rich tech stops earning, but is no bottom earner
            rows += [_shift(day, "T000098"), _job(day, "T000098", 900.0)]
        else:
            rows.append(_shift(day, "T000098"))
        if d < 7:  # the other one takes days off: no shift, so no worked day
            rows += [_shift(day, "T000097"), _job(day, "T000097", 60.0)]
    sig = Signals()
    _feed(sig, rows, T0 + timedelta(days=9, hours=1))
    assert sig.earnings_declines().is_empty()


def _survey(ts: datetime, tech: str, nps: int, area: str = "PA-0001", n: int = 0) -> dict[str, Any]:
    return {
        "type": "cx.survey",
        "ts": ts,
        "area_id": area,
        "tech_id": tech,
        "customer_id": f"C{abs(hash((ts, tech, n))) % 10**9:09d}",
        "nps": nps,
    }


def test_a_detractor_cluster_around_a_tech_against_their_usual() -> None:
    rows: list[dict[str, Any]] = []
    for d in range(10):  # ten days of history: most techs happy, one always grumbling
        ts = T0 + timedelta(days=d, hours=12)
        rows += [_survey(ts, f"T{i:06d}", 9) for i in range(30)]
        rows += [_survey(ts + timedelta(minutes=n), "T000050", 3, n=n) for n in range(3)]
        rows.append(_survey(ts, "T000060", 9))  # a good tech...
    bad = T0 + timedelta(days=10, hours=9)
    rows += [_survey(bad + timedelta(minutes=20 * n), "T000060", 2, n=n) for n in range(5)]
    sig = Signals()
    _feed(sig, rows, bad + timedelta(hours=3))
    got = sig.detractor_clusters()
    # The tech whose customers always grumble (3 detractors every day) does not cluster; the
    # one whose customers turned does.
    assert got["tech_id"].to_list() == ["T000060"]
    assert got["detractors"][0] == 5
    assert got["chance"][0] <= 0.01
    assert got["detractor_excess"][0] > 3.0


def test_an_area_wide_wave_of_detractors_is_no_cluster_around_one_tech() -> None:
    rows: list[dict[str, Any]] = []
    for d in range(10):
        ts = T0 + timedelta(days=d, hours=12)
        rows += [_survey(ts, f"T{i:06d}", 9) for i in range(6)]
    wave = T0 + timedelta(days=10, hours=9)
    rows += [
        _survey(wave + timedelta(hours=h), f"T{i:06d}", 3, n=h) for i in range(6) for h in range(3)
    ]
    sig = Signals()
    _feed(sig, rows, wave + timedelta(hours=3))
    assert sig.detractor_clusters().is_empty()


def test_a_rookie_without_history_is_judged_against_the_area() -> None:
    rows: list[dict[str, Any]] = []
    for d in range(10):
        ts = T0 + timedelta(days=d, hours=12)
        rows += [_survey(ts, f"T{i:06d}", 9) for i in range(6)]
    start = T0 + timedelta(days=10, hours=9)
    rows += [_survey(start + timedelta(hours=h), "T000077", 4) for h in range(3)]
    sig = Signals()
    _feed(sig, rows, start + timedelta(hours=3))
    assert sig.detractor_clusters()["tech_id"].to_list() == ["T000077"]


def test_current_names_every_signal_with_its_id_and_value_columns() -> None:
    sig = Signals()
    _feed(sig, [_stock(T0, "A", 1.0)], T0 + timedelta(hours=1))
    found = sig.current()
    assert set(found) == set(SIGNAL_SPECS)
    for name, frame in found.items():
        spec = SIGNAL_SPECS[name]
        assert {"area_id", spec.id_column, spec.value} <= set(frame.columns), name


def _area_history(techs: int, days: int = 10) -> list[dict[str, Any]]:
    """``days`` of answers from ``techs`` techs: one a day each, a 10 % detractor share."""
    rows: list[dict[str, Any]] = []
    for d in range(days):
        ts = T0 + timedelta(days=d, hours=12)
        rows += [_survey(ts, f"T{i:06d}", 3 if (i + d) % 10 == 0 else 9) for i in range(techs)]
    return rows


def test_the_more_techs_an_area_tests_the_more_evidence_a_cluster_needs() -> None:
    """Every tech is tested at once (Bonferroni): five detractors in a row from a tech with
    the area's usual share stand out among six techs but not among sixty, where chance alone
    makes such runs common."""

    def clusters(techs: int, detractors: int) -> list[str]:
        rows = _area_history(techs)
        now = T0 + timedelta(days=10, hours=9)
        for i in range(techs):  # today's answers: one tech gets only detractors
            rows.append(_survey(now, f"T{i:06d}", 9))
        rows += [_survey(now + timedelta(hours=h), "T000004", 2, n=h) for h in range(detractors)]
        sig = Signals()
        _feed(sig, rows, now + timedelta(hours=detractors + 1))
        return sig.detractor_clusters()["tech_id"].to_list()

    assert clusters(6, 5) == ["T000004"]
    assert clusters(60, 5) == []
    assert clusters(60, 9) == ["T000004"]


def _late_job(ts: datetime, tech: str, job: str, late_min: float) -> dict[str, Any]:
    window_end = ts - timedelta(hours=1)
    return {
        "type": "job.completed",
        "ts": ts,
        "area_id": "PA-0001",
        "tech_id": tech,
        "job_id": job,
        "window_end": window_end,
        "arrived_at": window_end + timedelta(minutes=late_min),
        "tech_pay": 100.0,
    }


def test_detractors_after_a_late_arrival_are_the_lateness_not_a_cluster() -> None:
    """The same three detractors cluster when the tech came on time, not when they came
    late (a late arrival's detractor is for the lateness entries, not a master-tech shadow)."""

    def clusters(late_min: float) -> list[str]:
        rows = _area_history(6)
        now = T0 + timedelta(days=10, hours=9)
        for h in range(3):
            done = now + timedelta(hours=2 * h)
            rows.append(_late_job(done, "T000001", f"J{h}", late_min))
            rows.append(
                {**_survey(done + timedelta(minutes=40), "T000001", 2, n=h), "job_id": f"J{h}"}
            )
        sig = Signals()
        _feed(sig, rows, now + timedelta(hours=7))
        return sig.detractor_clusters()["tech_id"].to_list()

    assert clusters(late_min=-30.0) == ["T000001"]
    assert clusters(late_min=45.0) == []


def _hired(ts: datetime, tech: str, hired_on: str) -> dict[str, Any]:
    return {**_shift(ts, tech), "ts": ts, "extra": f'{{"hired_on":"{hired_on}"}}'}


def test_where_hire_dates_are_known_only_rookies_are_tested() -> None:
    """With hire dates on tech.status, the family is the area's rookies: a rookie's five
    detractors stand out among 60 techs of whom 6 are rookies (not among all 60), a veteran's
    are not tested, and a hire date that is not a date leaves the tech untested."""

    def clusters(tech: str, config: SignalConfig | None = None) -> list[str]:
        rows = _area_history(60)
        for i in range(60):
            hired_on = "2025-12-01" if i < 6 else "2019-04-01"
            rows.append(_hired(T0, f"T{i:06d}", hired_on))
        rows.append(_hired(T0, "T000061", "soon"))
        now = T0 + timedelta(days=10, hours=9)
        rows += [_survey(now + timedelta(hours=h), tech, 2, n=h) for h in range(5)]
        sig = Signals(config)
        _feed(sig, rows, now + timedelta(hours=6))
        hires = sig.tech_days.hires
        assert hires.height == 60  # "soon" is not a date
        assert hires.filter(pl.col("tech_id") == "T000004")["hired_on"].to_list() == [
            date(2025, 12, 1)
        ]
        return sig.detractor_clusters()["tech_id"].to_list()

    assert clusters("T000004") == ["T000004"]  # a rookie
    assert clusters("T000034") == []  # a veteran
    assert clusters("T000061") == []  # tenure unknown
    # Without the rookie restriction the same rookie is one of 61 and not named.
    assert clusters("T000004", SignalConfig(detractor_rookie_days=None)) == []


def test_the_emptiest_locker_per_sku_with_the_area_as_fallback() -> None:
    def stock(locker: str, sku: str, on_hand: int, area: str = "PA-0001") -> dict[str, Any]:
        return {**_stock(T0, sku, 2.0, area), "locker_id": locker, "on_hand": on_hand}

    sig = Signals()
    rows = [stock("L2", "R-9923", 1), stock("L1", "R-9923", 1), stock("L1", "M-1", 0)]
    rows += [stock("L3", "M-1", 5, area="PA-0002")]
    _feed(sig, rows, T0 + timedelta(hours=1))
    assert sig.emptiest_locker("PA-0001", "R-9923") == "L1"  # a tie goes to the lower id
    assert sig.emptiest_locker("PA-0001", "X-0000") == "L1"  # unseen SKU: the area's emptiest
    assert sig.emptiest_locker("PA-0002", "M-1") == "L3"
    assert sig.emptiest_locker("PA-0003", "M-1") is None
    # A new hour's stock replaces the answer (nothing stale is kept between ticks).
    _feed(
        sig, [{**stock("L1", "R-9923", 9), "ts": T0 + timedelta(hours=1)}], T0 + timedelta(hours=2)
    )
    assert sig.emptiest_locker("PA-0001", "R-9923") == "L2"


def test_every_signal_module_is_a_signal_the_tick_computes() -> None:
    """Adding a signal is adding a module with its ``SIGNAL``: one left out of SIGNALS fails."""
    import importlib
    import pkgutil

    from tailguard.agents import signals

    found = {}
    for module in pkgutil.iter_modules(signals.__path__):
        loaded = importlib.import_module(f"{signals.__name__}.{module.name}")
        if hasattr(loaded, "SIGNAL"):
            found[module.name] = loaded.SIGNAL
    assert len(found) >= 4
    assert {name: s.name for name, s in found.items()} == {name: name for name in found}
    assert tuple(s.name for s in signals.SIGNALS) == tuple(SIGNAL_SPECS)
    assert set(SIGNAL_SPECS) == set(found)
