"""The learning page: what the policy does, its versions and estimates, and the admin's forms."""

from __future__ import annotations

import re

from tailguard.learning.versions import PolicyStore

from .conftest import Service
from .test_learning_api import _two_versions


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def _sign_in(web: Service, who: str) -> None:
    form = web.client.get("/signin")
    done = web.client.post(
        "/signin",
        data={"api_key": web.keys[who], "csrf": _csrf(form.text), "next": "/learning"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_the_learning_page_shows_what_the_policy_does_and_its_history(web: Service) -> None:
    """A viewer sees the version in force, each context's arms, the versions and, on request,
    the off-policy estimates; no switch forms, and a forged rollback is refused."""
    first, second = _two_versions(web)
    _sign_in(web, "vic")
    page = web.client.get("/learning")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert f'data-testid="active-version">{second}<' in html
    assert f'data-version="{first}"' in html
    assert 'data-testid="behaviour"' in html
    assert 'data-group="' in html
    assert 'action="/learning/rollback"' not in html
    estimated = web.client.get("/learning?estimate=1").text
    assert 'data-policy="learning"' in estimated
    assert 'data-policy="fixed"' in estimated
    forged = web.client.post(
        "/learning/rollback", data={"csrf": _csrf(html), "reason": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert PolicyStore(web.state.ledger).state().active == second


def test_an_admin_rolls_back_and_freezes_from_the_page(web: Service) -> None:
    """The forms change the policy state; each change is a ledger record naming the admin."""
    first, _second = _two_versions(web)
    _sign_in(web, "root")
    html = web.client.get("/learning").text
    assert 'action="/learning/rollback"' in html
    done = web.client.post(
        "/learning/rollback",
        data={"csrf": _csrf(html), "reason": "odd lift in rural areas"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert PolicyStore(web.state.ledger).state().active == first
    html = web.client.get("/learning").text
    assert "odd lift in rural areas" in html
    frozen = web.client.post(
        "/learning/switches",
        data={"csrf": _csrf(html), "switch": "frozen", "value": "on"},
        follow_redirects=False,
    )
    assert frozen.status_code == 303
    assert PolicyStore(web.state.ledger).state().frozen is True
    records = [r.fields for r in web.state.ledger.records(kind="policy")]
    assert {"rolled_back", "switch"} <= {r["action"] for r in records}
    assert all(r["by"] == "root" for r in records if r["action"] in ("rolled_back", "switch"))
