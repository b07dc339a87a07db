"""The coaches' page's library half: its figures, and a nudge as a governed, recorded call."""

from __future__ import annotations

import pytest

from tailguard.crowd.store import CrowdStore
from tailguard.errors import InvalidInputError
from tailguard.service import ServiceSettings
from tailguard.service.settings import ServiceState
from tailguard.service.web.coaches import coaches_data, nudge

from .test_exchange import load


@pytest.fixture
def state(db_url: str) -> ServiceState:
    """A service state over a ledger holding a published synthetic network."""
    opened = ServiceState.open(ServiceSettings(ledger_url=db_url))
    load(CrowdStore(opened.ledger.engine))
    return opened


def test_a_nudge_reaches_the_ledger_through_the_control_plane(state: ServiceState) -> None:
    """A laggard's ignored tactic is nudged in a coach run; the record names the coach."""
    try:
        view = coaches_data(state)
        assert view["areas"] == 240
        assert view["discoveries"] > 0
        laggard = view["laggards"][0]
        done = nudge(state, "coach-ann", laggard["area_id"], laggard["ignored"][0], "try it")
        [record] = state.ledger.records(kind="crowd_nudge")
        assert record.seq == done["seq"]
        assert record.fields["coach_id"] == "coach-ann"
        assert record.fields["area_id"] == laggard["area_id"]
        assert record.fields["coach_note"] == "try it"
        runs = [r.fields for r in state.ledger.records(kind="run")]
        assert any(r["role"] == "coach" and r["initiator_id"] == "coach-ann" for r in runs)
        assert state.ledger.verify().ok
    finally:
        state.close()


@pytest.mark.parametrize("which", ["unknown area", "tactic not ignored"])
def test_a_nudge_outside_the_laggards_list_is_refused(state: ServiceState, which: str) -> None:
    """Only a tactic the area is listed as ignoring can be nudged; nothing is recorded."""
    try:
        laggard = coaches_data(state)["laggards"][0]
        area, tactic = (
            ("PA-9999", laggard["ignored"][0])
            if which == "unknown area"
            else (laggard["area_id"], "made_up[x=1]")
        )
        with pytest.raises(InvalidInputError):
            nudge(state, "coach-ann", area, tactic, "")
        assert not list(state.ledger.records(kind="crowd_nudge"))
    finally:
        state.close()
