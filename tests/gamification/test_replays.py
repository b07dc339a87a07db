"""The peer replay library: who may publish, what is recommended to whom, and opt-out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.clock import FakeClock
from tailguard.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import SCORE_COLUMNS, GameStore
from tailguard.ledger import Ledger

NOW = datetime(2026, 3, 9, 9, tzinfo=UTC)
WEEK = date(2026, 3, 2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def library(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplayLibrary]:
    url = (
        f"sqlite:///{tmp_path / 'l.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Ledger.open(url, clock=FakeClock(NOW)) as ledger:
        store = GameStore(ledger)
        rows = [
            ("PA-0001", f"T{k}", 30, 130.0 - 10 * k, 0, 0, 0, 80.0, k, 4, 100.0, 115.0)
            for k in range(1, 5)
        ]
        store.put_week(WEEK, pl.DataFrame(rows, schema=list(SCORE_COLUMNS), orient="row"))
        store.seed_opt_ins(["T1", "T2", "T4"], by="field-app", now=NOW)
        lib = ReplayLibrary(store)
        lib.put_weak(
            WEEK,
            pl.DataFrame(
                {
                    "tech_id": ["T4", "T4", "T4", "T4", "T1"],
                    "job_code": ["FR-COMP", "DW-PUMP", "WM-DRUM", "OV-IGN", "FR-COMP"],
                    "fix_z": [-1.5, -0.5, 0.1, 0.9, 1.0],
                    "jobs": [6, 4, 5, 3, 9],
                }
            ),
        )
        yield lib


def publish(
    lib: ReplayLibrary, tech: str, code: str = "FR-COMP", media: str = "https://v/1"
) -> str:
    return lib.publish(
        tech,
        job_code=code,
        model="WRF555",
        summary="replaced the start relay",
        outcome="fixed, no recall",
        media_ref=media,
        now=NOW,
    )


def test_the_top_tenth_publishes_and_the_weak_get_their_weakest_codes_first(
    library: ReplayLibrary,
) -> None:
    fridge = publish(library, "T1")
    pump = publish(library, "T1", code="DW-PUMP", media="fieldapp://rec/9")
    recs = library.recommend("T4")
    assert [r["replay_id"] for r in recs] == [fridge, pump]  # FR-COMP is T4's weakest
    assert recs[0]["your_fix_z"] == -1.5
    assert library.recommend("T1") == []  # never one's own
    library.view(fridge, "T4", NOW)
    assert library.counts() == {"shown": 2, "withdrawn": 0, "views": 1}
    actions = [r.fields["action"] for r in library.store.ledger.records(kind="gamification")]
    assert actions == ["replay_published", "replay_published"]


def test_only_opted_in_p90_techs_may_publish(library: ReplayLibrary) -> None:
    with pytest.raises(PermissionDeniedError, match="P90"):
        publish(library, "T2")  # opted in, below the network's P90
    with pytest.raises(PermissionDeniedError, match="opted in"):
        publish(library, "T3")  # not opted in (checked before the rank)
    with pytest.raises(InvalidInputError, match="address"):
        publish(library, "T1", media="data:video/mp4;base64,AAAA")


def test_opting_out_withdraws_every_replay_at_once(library: ReplayLibrary) -> None:
    shown = publish(library, "T1")
    library.store.set_opt_in("T1", False, by="t1", now=NOW)
    assert library.recommend("T4") == []
    with pytest.raises(NotFoundError):
        library.view(shown, "T4", NOW)
    assert library.counts()["withdrawn"] == 1
    actions = [r.fields["action"] for r in library.store.ledger.records(kind="gamification")]
    assert actions[-2:] == ["opted_out", "replays_withdrawn"]


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=80))
def test_a_media_reference_must_be_an_address(media: str) -> None:
    allowed = media.startswith(("https://", "s3://", "gs://", "fieldapp://")) and not (
        {" ", "\x00"} & set(media)
    )
    with Ledger.open("sqlite://", clock=FakeClock(NOW)) as ledger:
        lib = ReplayLibrary(GameStore(ledger))
        try:
            lib.publish(
                "T1", job_code="X", model="M", summary="s", outcome="o", media_ref=media, now=NOW
            )
        except InvalidInputError:
            assert not allowed
        except PermissionDeniedError:
            assert allowed  # a good address; T1 simply is not opted in here
