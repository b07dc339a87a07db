"""The exchange's store: published areas, KPI series, tactic adoptions and local A/B tests.

SQLAlchemy Core on the ledger's database (SQLite or PostgreSQL). What areas publish is final:
a KPI value for a closed period, an adoption, an area's type. Publishing the same row again is
a no-op (``INSERT ... ON CONFLICT DO NOTHING``), so a nightly job can be rerun safely. Only the
A/B tests' status moves, as a test progresses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tailguard.errors import InvalidInputError, LedgerError, NotFoundError
from tailguard.ledger import access
from tailguard.migrations import ensure_schema

metadata = sa.MetaData()
_F = sa.Float(precision=53)

areas = sa.Table(
    "tailguard_crowd_areas",
    metadata,
    sa.Column("area_id", sa.String(64), primary_key=True),
    sa.Column("area_type", sa.String(64), nullable=False),
)

kpis = sa.Table(
    "tailguard_crowd_kpis",
    metadata,
    sa.Column("area_id", sa.String(64), primary_key=True),
    sa.Column("kpi", sa.String(64), primary_key=True),
    sa.Column("period", sa.Integer, primary_key=True),
    sa.Column("value", _F, nullable=False),
)

tactics = sa.Table(
    "tailguard_crowd_tactics",
    metadata,
    sa.Column("area_id", sa.String(64), primary_key=True),
    sa.Column("tactic", sa.String(255), primary_key=True),
    sa.Column("kpi", sa.String(64), primary_key=True),
    sa.Column("tactic_id", sa.String(64), nullable=False, unique=True),
    sa.Column("adopted_period", sa.Integer, nullable=False),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("decisions", sa.Integer, nullable=False),
    sa.Column("outcome_n", sa.Integer, nullable=False),
    sa.Column("outcome_mean_delta", _F, nullable=True),
    sa.Column("published_at", _F, nullable=False),
)

tests = sa.Table(
    "tailguard_crowd_tests",
    metadata,
    sa.Column("test_id", sa.String(64), primary_key=True),
    sa.Column("area_id", sa.String(64), nullable=False, index=True),
    sa.Column("tactic", sa.String(255), nullable=False),
    sa.Column("kpi", sa.String(64), nullable=False),
    sa.Column("cluster", sa.String(32), nullable=False),
    sa.Column("source_areas", sa.Integer, nullable=False),
    sa.Column("started_period", sa.Integer, nullable=False),
    sa.Column("b_share", _F, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("units_a", sa.Integer, nullable=False),
    sa.Column("units_b", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("decided_period", sa.Integer, nullable=True),
    sa.Column("lift", _F, nullable=True),
    sa.Column("lift_lo", _F, nullable=True),
    sa.Column("lift_hi", _F, nullable=True),
    sa.Column("srm_p", _F, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)

TEST_STATUSES = ("testing", "adopted", "dropped", "stopped_guard", "stopped_srm")


@dataclass(frozen=True, kw_only=True, slots=True)
class TacticRow:
    """One published adoption: an area's first use of a tactic, anonymised.

    Attributes:
        area_id: the publishing area.
        tactic: catalogue entry and argument level, e.g. ``surge_shift[bonus_usd=25]``.
        kpi: the area KPI the tactic targets.
        tactic_id: a stable id of (area, tactic, kpi).
        adopted_period: the week (period) of the first execution.
        units: how many distinct units it was applied to (a count, never their ids).
        decisions: how many times it was executed.
        outcome_n: decisions with a measured outcome.
        outcome_mean_delta: mean change of the unit-level target KPI (None: none measured).
        published_at: POSIX seconds.
    """

    area_id: str
    tactic: str
    kpi: str
    tactic_id: str
    adopted_period: int
    units: int
    decisions: int
    outcome_n: int
    outcome_mean_delta: float | None
    published_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalTest:
    """A local A/B test of a tactic proven elsewhere (the row in ``tailguard_crowd_tests``)."""

    test_id: str
    area_id: str
    tactic: str
    kpi: str
    cluster: str
    source_areas: int
    started_period: int
    b_share: float
    seed: int
    units_a: int
    units_b: int
    status: str = "testing"
    decided_period: int | None = None
    lift: float | None = None
    lift_lo: float | None = None
    lift_hi: float | None = None
    srm_p: float | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in TEST_STATUSES:
            raise InvalidInputError(f"unknown test status {self.status!r}")


class CrowdStore:
    """The exchange's tables on one database.

    Args:
        engine: a SQLAlchemy engine (usually ``Ledger.engine``); tables are created if absent.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        try:
            ensure_schema(engine)  # tables come from the migrations
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot create the crowd tables: {exc}") from exc

    # ----------------------------------------------------------------- writes

    def put_areas(self, area_types: Mapping[str, str]) -> int:
        """Publish area types (a known area keeps its first type). Returns rows added."""
        rows = [{"area_id": a, "area_type": t} for a, t in sorted(area_types.items())]
        return self._insert_new(areas, rows, ["area_id"])

    def put_kpis(self, frame: pl.DataFrame) -> int:
        """Publish KPI values ``area_id, kpi, period, value`` (nulls skipped). Returns rows added."""
        missing = {"area_id", "kpi", "period", "value"} - set(frame.columns)
        if missing:
            raise InvalidInputError(f"KPI rows lack {sorted(missing)}")
        clean = frame.select("area_id", "kpi", "period", "value").filter(
            pl.col("value").is_not_null() & pl.col("value").is_finite()
        )
        return self._insert_new(kpis, clean.to_dicts(), ["area_id", "kpi", "period"])

    def put_tactics(self, rows: Sequence[TacticRow]) -> list[TacticRow]:
        """Publish adoptions; returns those that were new (already published ones are kept)."""
        if not rows:
            return []
        have = {
            (r["area_id"], r["tactic"], r["kpi"])
            for r in self.tactics_frame().select("area_id", "tactic", "kpi").to_dicts()
        }
        new = [r for r in rows if (r.area_id, r.tactic, r.kpi) not in have]
        self._insert_new(tactics, [asdict(r) for r in new], ["area_id", "tactic", "kpi"])
        return new

    def put_test(self, test: LocalTest) -> None:
        """Record a new local test.

        Raises:
            LedgerError: a test with this id exists.
        """
        self._write(lambda c: c.execute(sa.insert(tests), [asdict(test)]), "record a local test")

    def update_test(self, test_id: str, **values: Any) -> None:
        """Change a test's status and result fields.

        Raises:
            NotFoundError: no such test.
            InvalidInputError: an unknown status or field.
        """
        unknown = set(values) - {c.name for c in tests.columns} | ({"test_id"} & set(values))
        if unknown:
            raise InvalidInputError(f"cannot update test field(s) {sorted(unknown)}")
        if "status" in values and values["status"] not in TEST_STATUSES:
            raise InvalidInputError(f"unknown test status {values['status']!r}")

        def run(conn: sa.Connection) -> None:
            res = conn.execute(sa.update(tests).where(tests.c.test_id == test_id).values(values))
            if res.rowcount == 0:
                raise NotFoundError(f"unknown local test {test_id!r}")

        self._write(run, "update a local test")

    # ------------------------------------------------------------------ reads

    def area_types(self) -> dict[str, str]:
        """Every published area's type."""
        with self._read() as conn:
            return {r.area_id: r.area_type for r in conn.execute(sa.select(areas))}

    def kpis_frame(self, kpi: str | None = None) -> pl.DataFrame:
        """Published KPI values (one KPI with ``kpi``)."""
        query = sa.select(kpis)
        if kpi is not None:
            query = query.where(kpis.c.kpi == kpi)
        return self._frame(
            query,
            {"area_id": pl.String, "kpi": pl.String, "period": pl.Int64, "value": pl.Float64},
        )

    def tactics_frame(self) -> pl.DataFrame:
        """Published adoptions."""
        schema = {
            "area_id": pl.String,
            "tactic": pl.String,
            "kpi": pl.String,
            "tactic_id": pl.String,
            "adopted_period": pl.Int64,
            "units": pl.Int64,
            "decisions": pl.Int64,
            "outcome_n": pl.Int64,
            "outcome_mean_delta": pl.Float64,
            "published_at": pl.Float64,
        }
        return self._frame(sa.select(tactics), schema)

    def local_tests(self, *, area_id: str | None = None) -> list[LocalTest]:
        """Local A/B tests, oldest id first (one area's with ``area_id``)."""
        query = sa.select(tests).order_by(tests.c.test_id)
        if area_id is not None:
            query = query.where(tests.c.area_id == area_id)
        with self._read() as conn:
            return [LocalTest(**dict(r._mapping)) for r in conn.execute(query)]

    # --------------------------------------------------------------- plumbing

    def _frame(self, query: sa.Select[Any], schema: Mapping[str, Any]) -> pl.DataFrame:
        with self._read() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        return pl.DataFrame(rows, schema=dict(schema), orient="row")

    def _insert_new(self, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> int:
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        if dialect not in ("postgresql", "sqlite"):
            raise LedgerError(f"the crowd store does not support {dialect!r}")
        statement = module.insert(table).on_conflict_do_nothing(index_elements=keys)

        count = sa.select(sa.func.count()).select_from(table)

        def run(conn: sa.Connection) -> int:
            # executemany's rowcount is not reliable across drivers: count instead.
            before = int(conn.execute(count).scalar_one())
            for lo in range(0, len(rows), 2000):
                conn.execute(statement, rows[lo : lo + 2000])
            return int(conn.execute(count).scalar_one()) - before

        return int(self._write(run, f"publish to {table.name}"))

    def _write(self, fn: Any, what: str) -> Any:
        return access.write(self.engine, fn, what)

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return access.read(self.engine, "crowd store")
