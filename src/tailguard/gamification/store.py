"""The gamification store: weekly TechPower, opt-ins, streaks, the areas' arms and the
programme's actions, on the ledger's database (SQLite or PostgreSQL).

The programme writes it (weekly scores, nightly streaks and actions); the service reads it for
the technician's page, the operator's leaderboard and the field app's API. A technician's
opt-in or opt-out is a ``gamification`` ledger record as well as a row, so who changed it and
when is evidence like any other decision.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Final

import polars as pl
import sqlalchemy as sa

from tailguard.errors import InvalidInputError, LedgerError, NotFoundError
from tailguard.ledger import Ledger, access
from tailguard.migrations import ensure_schema

metadata = sa.MetaData()
_F = sa.Float(precision=53)

SCORE_COLUMNS: Final = (
    "area_id",
    "tech_id",
    "jobs",
    "techpower",
    "revenue_z",
    "fix_z",
    "nps_z",
    "net_fix_pct",
    "area_rank",
    "area_size",
    "network_p50",
    "network_p90",
)

scores = sa.Table(
    "tailguard_gami_scores",
    metadata,
    sa.Column("week", sa.Date, primary_key=True),
    sa.Column("tech_id", sa.String(64), primary_key=True),
    sa.Column("area_id", sa.String(64), nullable=False, index=True),
    sa.Column("jobs", sa.Integer, nullable=False),
    *[
        sa.Column(c, _F, nullable=True)
        for c in ("techpower", "revenue_z", "fix_z", "nps_z", "net_fix_pct")
    ],
    sa.Column("area_rank", sa.Integer, nullable=False),
    sa.Column("area_size", sa.Integer, nullable=False),
    sa.Column("network_p50", _F, nullable=True),
    sa.Column("network_p90", _F, nullable=True),
)

optin = sa.Table(
    "tailguard_gami_optin",
    metadata,
    sa.Column("tech_id", sa.String(64), primary_key=True),
    sa.Column("opted_in", sa.Boolean, nullable=False),
    sa.Column("changed_at", _F, nullable=False),
    sa.Column("changed_by", sa.String(255), nullable=False),
)

streaks = sa.Table(
    "tailguard_gami_streaks",
    metadata,
    sa.Column("tech_id", sa.String(64), primary_key=True),
    sa.Column("area_id", sa.String(64), nullable=False),
    sa.Column("current", sa.Integer, nullable=False),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Column("awarded", sa.Integer, nullable=False),
)

arms = sa.Table(
    "tailguard_gami_arms",
    metadata,
    sa.Column("area_id", sa.String(64), primary_key=True),
    sa.Column("ftf_bonus_usd", _F, nullable=False),
    sa.Column("kit_value_usd", _F, nullable=False),
    sa.Column("propensity", _F, nullable=False),
)

actions = sa.Table(
    "tailguard_gami_actions",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),  # the governed step's id
    sa.Column("at", _F, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # kit_bonus, withhold_fix_bonus
    sa.Column("area_id", sa.String(64), nullable=True),
    sa.Column("tech_id", sa.String(64), nullable=True, index=True),
    sa.Column("usd", _F, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # the step's outcome
    sa.Column("detail", sa.Text, nullable=True),
)


_CREATED: weakref.WeakKeyDictionary[sa.Engine, set[int]] = weakref.WeakKeyDictionary()


def ensure_tables(engine: sa.Engine, tables: sa.MetaData, what: str) -> None:
    """Create ``tables`` on ``engine`` if absent, once per engine (the service opens a store
    per request; the check is not repeated)."""
    done = _CREATED.setdefault(engine, set())
    if id(tables) in done:
        return
    try:
        ensure_schema(engine)  # tables come from the migrations
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerError(f"cannot create {what}: {exc}") from exc
    done.add(id(tables))


class GameStore:
    """The programme's tables on one database.

    Args:
        ledger: the ledger whose database holds the tables (created if absent) and which
            records opt-in changes.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        ensure_tables(self.engine, metadata, "the gamification tables")

    # ----------------------------------------------------------------- writes
    def put_week(self, week: date, frame: pl.DataFrame) -> int:
        """Replace ``week``'s TechPower rows with ``frame`` (TechPowerBook.scores)."""
        rows = [
            {"week": week, **{c: r[c] for c in SCORE_COLUMNS}}
            for r in frame.select(SCORE_COLUMNS).iter_rows(named=True)
        ]

        return self.replace_week(scores, week, rows, "write the week's TechPower")

    def replace_week(
        self, table: sa.Table, week: date, rows: list[dict[str, Any]], what: str
    ) -> int:
        """Replace ``table``'s rows of ``week`` with ``rows`` in one transaction."""

        def run(conn: sa.Connection) -> int:
            conn.execute(table.delete().where(table.c.week == week))
            for lo in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[lo : lo + 2000])
            return len(rows)

        return int(access.write(self.engine, run, what))

    def put_arms(self, rows: Mapping[str, Mapping[str, float]]) -> None:
        """The areas' reward sizes (area -> ftf_bonus_usd, kit_value_usd, propensity)."""
        self._replace(arms, [{"area_id": a, **dict(v)} for a, v in rows.items()], "area_id")

    def put_streaks(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Each tech's current streak (tech_id, area_id, current, length, awarded)."""
        self._replace(streaks, [dict(r) for r in rows], "tech_id")

    def put_action(
        self,
        action_id: str,
        *,
        at: datetime,
        kind: str,
        area_id: str | None,
        tech_id: str | None,
        usd: float,
        status: str,
        detail: str | None = None,
    ) -> None:
        """Record (or update the status of) one of the programme's governed calls."""
        row = {
            "action_id": action_id,
            "at": at.timestamp(),
            "kind": kind,
            "area_id": area_id,
            "tech_id": tech_id,
            "usd": usd,
            "status": status,
            "detail": detail,
        }
        self._replace(actions, [row], "action_id")

    def set_opt_in(self, tech_id: str, opted_in: bool, *, by: str, now: datetime) -> None:
        """A technician opts in or out of leaderboards and replays: a row and a record; opting
        out withdraws their published replays at once."""
        if not tech_id or len(tech_id) > 64:
            raise InvalidInputError("a technician id of 1 to 64 characters is required")
        self._replace(
            optin,
            [
                {
                    "tech_id": tech_id,
                    "opted_in": opted_in,
                    "changed_at": now.timestamp(),
                    "changed_by": by,
                }
            ],
            "tech_id",
        )
        self.ledger.append(
            "gamification",
            {
                "gamification_id": f"optin:{tech_id}:{int(now.timestamp())}",
                "action": "opted_in" if opted_in else "opted_out",
                "tech_id": tech_id,
                "by": by,
            },
        )
        if not opted_in:
            from tailguard.gamification.replays import ReplayLibrary

            ReplayLibrary(self).withdraw(tech_id, now)

    def seed_opt_ins(self, tech_ids: Iterable[str], *, by: str, now: datetime) -> int:
        """Opt-ins as the field app reported them when the programme began (rows only)."""
        rows = [
            {"tech_id": t, "opted_in": True, "changed_at": now.timestamp(), "changed_by": by}
            for t in tech_ids
        ]
        self._replace(optin, rows, "tech_id")
        return len(rows)

    # ------------------------------------------------------------------ reads
    def weeks(self) -> list[date]:
        """Weeks with scores, oldest first."""
        with self._read() as conn:
            return [
                r[0]
                for r in conn.execute(sa.select(scores.c.week).distinct().order_by(scores.c.week))
            ]

    def scores(self, week: date | None = None, *, area_id: str | None = None) -> pl.DataFrame:
        """A week's TechPower rows (default: the latest week)."""
        if week is None:
            known = self.weeks()
            week = known[-1] if known else date.min
        query = sa.select(*[scores.c[c] for c in SCORE_COLUMNS]).where(scores.c.week == week)
        if area_id is not None:
            query = query.where(scores.c.area_id == area_id)
        with self._read() as conn:
            rows = [
                tuple(r) for r in conn.execute(query.order_by(scores.c.area_id, scores.c.area_rank))
            ]
        return pl.DataFrame(rows, schema=list(SCORE_COLUMNS), orient="row")

    def opted_in(self) -> set[str]:
        """Techs who opted in (and have not opted out since)."""
        with self._read() as conn:
            return {r[0] for r in conn.execute(sa.select(optin.c.tech_id).where(optin.c.opted_in))}

    def leaderboard(
        self, area_id: str, *, week: date | None = None, top: int = 10
    ) -> list[dict[str, Any]]:
        """The area's board: opted-in techs only, ranked among themselves."""
        shown = self.opted_in()
        rows = [
            r
            for r in self.scores(week, area_id=area_id).iter_rows(named=True)
            if r["tech_id"] in shown
        ]
        rows.sort(key=lambda r: (-(r["techpower"] or 0.0), r["tech_id"]))
        return [{**r, "board_rank": i + 1} for i, r in enumerate(rows[:top])]

    def arms(self) -> dict[str, dict[str, float]]:
        """area -> its reward sizes."""
        with self._read() as conn:
            return {
                r.area_id: {
                    "ftf_bonus_usd": r.ftf_bonus_usd,
                    "kit_value_usd": r.kit_value_usd,
                    "propensity": r.propensity,
                }
                for r in conn.execute(sa.select(arms))
            }

    def actions(self, *, tech_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The programme's governed calls, newest first."""
        query = sa.select(actions).order_by(actions.c.at.desc()).limit(limit)
        if tech_id is not None:
            query = query.where(actions.c.tech_id == tech_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def spend(self) -> dict[str, Any]:
        """Kit prizes paid and withheld bonuses, in counts and dollars."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    actions.c.kind,
                    actions.c.status,
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(actions.c.usd), 0.0),
                ).group_by(actions.c.kind, actions.c.status)
            ).all()
        return {f"{k}:{s}": {"count": int(n), "usd": round(float(u), 2)} for k, s, n, u in rows}

    def tech(self, tech_id: str) -> dict[str, Any]:
        """What a technician's page shows: latest TechPower and rank, the network's P50/P90,
        the streak, opt-in, and the programme's actions about them.

        Raises:
            NotFoundError: the store knows nothing of this technician.
        """
        weeks = self.weeks()
        latest = None
        history: list[dict[str, Any]] = []
        with self._read() as conn:
            for r in conn.execute(
                sa.select(scores).where(scores.c.tech_id == tech_id).order_by(scores.c.week)
            ):
                row = dict(r._mapping)
                history.append({"week": row["week"].isoformat(), "techpower": row["techpower"]})
                latest = row
            streak = conn.execute(sa.select(streaks).where(streaks.c.tech_id == tech_id)).first()
            opt = conn.execute(sa.select(optin).where(optin.c.tech_id == tech_id)).first()
        if latest is None and streak is None and opt is None:
            raise NotFoundError(f"no gamification data for technician {tech_id!r}")
        area = (latest or {}).get("area_id") or (streak.area_id if streak else None)
        arm = self.arms().get(area or "", {})
        return {
            "tech_id": tech_id,
            "area_id": area,
            "opted_in": bool(opt.opted_in) if opt else False,
            "latest_week": weeks[-1].isoformat() if weeks else None,
            "score": None
            if latest is None
            else {
                k: latest[k]
                for k in (
                    "techpower",
                    "area_rank",
                    "area_size",
                    "network_p50",
                    "network_p90",
                    "net_fix_pct",
                    "jobs",
                )
            }
            | {"week": latest["week"].isoformat()},
            "history": history[-8:],
            "streak": None
            if streak is None
            else {
                "current": streak.current,
                "length": streak.length,
                "awarded": streak.awarded,
                "prize_usd": arm.get("kit_value_usd", 0.0),
            },
            "fix_bonus_usd": arm.get("ftf_bonus_usd", 0.0),
            "actions": self.actions(tech_id=tech_id, limit=20),
        }

    # ---------------------------------------------------------------- helpers
    def _replace(self, table: sa.Table, rows: list[dict[str, Any]], key: str) -> None:
        if not rows:
            return

        def run(conn: sa.Connection) -> None:
            keys = [r[key] for r in rows]
            for lo in range(0, len(keys), 2000):
                conn.execute(table.delete().where(table.c[key].in_(keys[lo : lo + 2000])))
            for lo in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[lo : lo + 2000])

        access.write(self.engine, run, f"write {table.name}")

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return access.read(self.engine, "gamification store")
