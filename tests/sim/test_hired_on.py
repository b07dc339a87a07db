"""The simulator's ``hired_on`` extension field on ``tech.status`` (docs/agents.md)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from tailguard.events.io import read_all, write_events
from tailguard.sim import NetworkConfig, Simulator


def test_every_status_tells_a_hire_date_that_survives_a_jsonl_round_trip(tmp_path: Path) -> None:
    sim = Simulator(NetworkConfig(areas=2, seed=3))
    tables = [sim.step() for _ in range(30)]
    df = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(df, pl.DataFrame)
    status = df.filter(pl.col("type") == "tech.status")
    assert status.height > 0
    hired = status.select(
        "tech_id",
        pl.col("ts").dt.date().alias("day"),
        pl.col("extra").str.json_path_match("$.hired_on").str.to_date("%Y-%m-%d").alias("hired"),
    )
    assert hired["hired"].null_count() == 0
    assert (hired["hired"] <= hired["day"]).all()
    assert hired["hired"].min() > date(1990, 1, 1)  # type: ignore[operator]
    # Some techs are rookies (hired less than a year before), most are not.
    rookie = hired["hired"] > hired["day"] - timedelta(days=365)
    assert 0 < rookie.sum() < hired.height
    # Nothing else carries it, and the job ids of follow-ups are still there.
    others = df.filter(pl.col("type") != "tech.status")["extra"].drop_nulls()
    assert others.len() > 0
    assert not others.str.contains("hired_on").any()
    assert others.str.contains('"parent_job_id":"J').all()
    # A JSONL file carries it as a plain field, and reading it back keeps it in ``extra``.
    path = tmp_path / "events.jsonl"
    write_events(tables, path)
    line = next(json.loads(x) for x in path.read_text().splitlines() if '"tech.status"' in x)
    assert date.fromisoformat(line["hired_on"]) <= date.fromisoformat(line["ts"][:10])
    back = pl.from_arrow(read_all(path))
    assert isinstance(back, pl.DataFrame)
    again = back.filter(pl.col("type") == "tech.status")["extra"]
    assert again.str.contains('"hired_on"').all()
