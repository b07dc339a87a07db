"""Schema migrations (tailguard.migrations): a fresh database upgraded to head has exactly the
tables the code defines, a database created by the release before migrations (tables made by
``create_all``, no version table) is upgraded to head with every row kept, on SQLite and on the
machine's PostgreSQL; the fast path reads the version once and runs no DDL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tailguard import migrations
from tailguard.cli import main
from tailguard.control import store as control_tables
from tailguard.crowd import store as crowd_tables
from tailguard.errors import LedgerError
from tailguard.gamification import replays as replay_tables
from tailguard.gamification import store as game_tables
from tailguard.identity import keys as key_tables
from tailguard.learning import store as learn_tables
from tailguard.learning import versions as version_tables
from tailguard.ledger import GENESIS_HASH, Ledger, parse_url
from tailguard.ledger import _tables as ledger_tables
from tailguard.mcp import registry as mcp_tables
from tailguard.ops import campaign_store as campaign_tables
from tailguard.ops import store as ops_tables
from tailguard.ops import swarm_store as swarm_tables
from tailguard.roles import conversations as chat_tables
from tailguard.roles.recruiting import schema as recruiting_tables
from tailguard.service.voice import calls as call_tables
from tailguard.weekly import dbweeks as week_tables

#: Every table definition in the code that lives on the ledger's database.
CODE_METADATA = (
    ledger_tables.metadata,
    control_tables.metadata,
    crowd_tables.metadata,
    game_tables.metadata,
    replay_tables.metadata,
    learn_tables.metadata,
    version_tables.metadata,
    key_tables.metadata,
    call_tables.metadata,
    chat_tables.metadata,
    recruiting_tables.metadata,
    mcp_tables._metadata,
    ops_tables.metadata,
    campaign_tables.metadata,
    week_tables.metadata,
    swarm_tables.metadata,
)


def combined() -> sa.MetaData:
    out = sa.MetaData()
    for meta in CODE_METADATA:
        for table in meta.tables.values():
            table.to_metadata(out)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tailguard.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    url, backend = parse_url(db_url)
    made = backend.create_engine(url)
    yield made
    made.dispose()


def _previous_release(engine: sa.Engine) -> None:
    """What the release before migrations left on a database: every store's ``create_all``,
    the ledger's append-only triggers and its head row; no version table."""
    _, backend = parse_url(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        for meta in CODE_METADATA:
            meta.create_all(conn, checkfirst=True)
        for statement in backend.guard_statements():
            conn.exec_driver_sql(statement)
        conn.execute(sa.insert(ledger_tables.head).values(id=1, seq=0, hash=GENESIS_HASH))


#: Rows written by the previous release (one per table kind the stores fill).
_ROWS: dict[str, list[dict[str, Any]]] = {
    "mcp_acting": [{"run_id": f"run-{i}", "role": "admin", "user_id": "admin"} for i in range(3)],
    "agent_conversations": [
        {"conversation_id": "c-1", "role": "recruiter", "user_id": "rec-001", "created_at": "x"}
    ],
    "tailguard_crowd_areas": [{"area_id": "PA-0001", "area_type": "urban"}],
}


def _fill(engine: sa.Engine) -> dict[str, int]:
    meta = combined()
    with engine.begin() as conn:
        for name, rows in _ROWS.items():
            conn.execute(sa.insert(meta.tables[name]), rows)
    return _counts(engine)


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {
            name: int(conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one())
            for name in names
            if name != migrations.VERSION_TABLE
        }


def _diffs(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: (
                    kind != "table" or name != migrations.VERSION_TABLE
                ),
            },
        )
        return list(compare_metadata(context, combined()))


def test_head_constant_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPT_LOCATION))
    assert ScriptDirectory.from_config(config).get_heads() == [migrations.HEAD]


def test_the_scripts_ship_inside_the_package() -> None:
    shipped = {
        p.relative_to(migrations.SCRIPT_LOCATION).as_posix()
        for p in migrations.SCRIPT_LOCATION.rglob("*.py")
    }
    assert {"env.py", "versions/v0001_baseline.py"} <= shipped
    assert (migrations.SCRIPT_LOCATION / "script.py.mako").is_file()


def test_a_fresh_database_upgraded_to_head_has_the_codes_tables(engine: sa.Engine) -> None:
    assert migrations.current_revision(engine) is None
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.HEAD
    assert _diffs(engine) == []
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(combined().tables) | {migrations.VERSION_TABLE}


def test_the_ledger_made_by_migrations_is_append_only(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        ledger.append("alert", {"alert_id": "a-1", "severity": "info", "message": "m"})
        with pytest.raises(sa.exc.DBAPIError), ledger.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tailguard_ledger"))
        assert ledger.verify().ok


def test_upgrading_the_previous_release_keeps_every_row(engine: sa.Engine, db_url: str) -> None:
    _previous_release(engine)
    before = _fill(engine)
    assert migrations.current_revision(engine) is None

    migrations.ensure_schema(engine)

    assert migrations.current_revision(engine) == migrations.HEAD
    assert _counts(engine) == before
    assert _diffs(engine) == []
    # The upgraded ledger keeps working: append, verify, and the triggers still refuse changes.
    with Ledger.open(db_url, create=False) as ledger:
        ledger.append("alert", {"alert_id": "a-1", "severity": "info", "message": "m"})
        assert ledger.verify().ok
        assert ledger.count() == 1


def test_a_partial_older_database_gets_its_missing_tables_and_columns(
    engine: sa.Engine,
) -> None:
    """A ledger opened only by ``tailguard ledger`` (no other store), with a control runs table
    from before the area and hour columns: the rest is created, the columns added."""
    with engine.begin() as conn:
        ledger_tables.metadata.create_all(conn)
        conn.execute(sa.insert(ledger_tables.head).values(id=1, seq=0, hash=GENESIS_HASH))
        conn.execute(
            sa.text(
                "CREATE TABLE tailguard_control_runs (run_id VARCHAR(64) PRIMARY KEY, "
                "role VARCHAR(64) NOT NULL, initiator VARCHAR(255) NOT NULL, "
                "goal_text TEXT NOT NULL, started_at FLOAT NOT NULL, status VARCHAR(32) NOT NULL, "
                "tokens BIGINT NOT NULL, cost_micros BIGINT NOT NULL, model_turns INTEGER NOT NULL, "
                "tool_calls INTEGER NOT NULL, active_seconds FLOAT NOT NULL, "
                "max_tokens BIGINT, max_cost_micros BIGINT, max_seconds FLOAT, "
                "max_tool_calls INTEGER, caller VARCHAR(255), closed_at FLOAT)"
            )
        )
    old_columns = {c["name"] for c in sa.inspect(engine).get_columns("tailguard_control_runs")}
    assert "area_id" not in old_columns

    migrations.ensure_schema(engine)

    columns = {c["name"] for c in sa.inspect(engine).get_columns("tailguard_control_runs")}
    assert {"area_id", "hour"} <= columns
    assert set(combined().tables) <= set(sa.inspect(engine).get_table_names())
    assert _counts(engine)["tailguard_ledger_head"] == 1


def test_the_fast_path_reads_the_version_and_runs_no_ddl(db_url: str, engine: sa.Engine) -> None:
    migrations.ensure_schema(engine)
    url, backend = parse_url(db_url)
    second = backend.create_engine(url)
    statements: list[str] = []
    sa.event.listen(
        second, "before_cursor_execute", lambda *a: statements.append(str(a[2]).upper())
    )
    try:
        migrations.ensure_schema(second)
        migrations.ensure_schema(second)  # the same engine again: nothing at all
    finally:
        second.dispose()
    assert statements, "the version was never read"
    assert not [s for s in statements if s.lstrip().startswith(("CREATE", "ALTER", "INSERT"))]
    assert len(statements) <= 4


def test_a_newer_revision_is_a_clear_error(engine: sa.Engine) -> None:
    migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(LedgerError, match="newer tailguard"):
        migrations.ensure_schema(engine)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_upgrade_and_current(
    db_url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    _previous_release(engine)
    code, out, err = run_main(capsys, "db", "current", "--db", db_url, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {
        "db": db_url,
        "revision": None,
        "head": migrations.HEAD,
        "up_to_date": False,
    }
    code, out, err = run_main(capsys, "db", "upgrade", "--db", db_url, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {
        "db": db_url,
        "from": None,
        "revision": migrations.HEAD,
        "head": migrations.HEAD,
    }
    code, out, _ = run_main(capsys, "db", "upgrade", "--db", db_url)
    assert code == 0
    assert "nothing to do" in out


def test_cli_refuses_a_missing_database_and_a_bad_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(capsys, "db", "current", "--db", str(tmp_path / "none.db"))
    assert (code, out) == (2, "")
    assert "no database at" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "none.db").exists()
    code, out, err = run_main(capsys, "db", "upgrade", "--db", "mysql://x/y")
    assert (code, out) == (2, "")
    assert "not supported" in err
