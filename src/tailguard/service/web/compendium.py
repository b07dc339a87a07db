"""The compendium pages: departments and their freshness, search, a file, a card's history.

The directory is the one ``tailguard compendium curate`` writes by default (beside a SQLite
ledger, :func:`tailguard.compendium.default_dir`), unless the app's state names another
(``state.extras["compendium_dir"]``). Every figure comes from the compendium's files and its
``compendium_change`` ledger records: freshness is the age of a department's last recorded
change against the product document's SLA (updated at least weekly); a card's history lists
each recorded change of it with its status, effect and evidence ids. Every signed-in person
may read; nothing here writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from tailguard.compendium import (
    Compendium,
    card_history,
    changes,
    default_dir,
    department_cards,
    freshness,
    problems,
    search,
)
from tailguard.compendium.cards import parse_cards
from tailguard.compendium.history import FRESHNESS_DAYS
from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded, render
from tailguard.service.web.session import WebSession, service_state

router = APIRouter()


def compendium_of(state: ServiceState) -> Compendium:
    """The service's compendium directory."""
    root = state.extras.get("compendium_dir") or default_dir(state.settings.ledger_url)
    return Compendium(Path(root))


def overview(state: ServiceState, query: str = "", department: str = "") -> dict[str, Any]:
    """Departments with freshness, file and card counts; search hits for ``query``."""
    comp = compendium_of(state)
    history = changes(state.ledger)
    cards = department_cards(comp)
    rows = freshness(history, comp.departments(), now=state.settings.clock.now())
    for row in rows:
        dept = row["department"]
        row["files"] = len(comp.files(dept))
        row["cards"] = sum(1 for c in cards if c.department == dept)
        row["proven"] = sum(1 for c in cards if c.department == dept and c.card.status == "proven")
    hits = (
        [h.to_dict() for h in search(comp, query, department=department or None, limit=20)]
        if query.strip()
        else []
    )
    return {
        "root": str(comp.root),
        "departments": rows,
        "fresh": sum(1 for r in rows if r["fresh"]),
        "sla_days": FRESHNESS_DAYS,
        "query": query,
        "department": department,
        "hits": hits,
        "problems": [{"file": p.path, "line": p.line, "reason": p.reason} for p in problems(comp)],
        "changes": len(history),
    }


@router.get("/compendium", include_in_schema=False)
def compendium_page(request: Request, q: str = "", department: str = "") -> Response:
    """Departments, their freshness against the weekly SLA, and search."""

    def page(session: WebSession) -> Response:
        view = overview(service_state(request), q[:400], department[:120])
        return render(request, "compendium.html", session, view=view)

    return guarded(request, Role.VIEWER, page)


@router.get("/compendium/file", include_in_schema=False)
def file_page(request: Request, path: str = "") -> Response:
    """One compendium file's text and its cards, with links to their history."""

    def page(session: WebSession) -> Response:
        comp = compendium_of(service_state(request))
        text = comp.read(path)
        if text is None:
            raise NotFoundError(f"no compendium file {path!r}")
        try:
            cards = parse_cards(text, path)
            error = None
        except InvalidInputError as exc:
            cards, error = [], exc.message
        return render(
            request,
            "compendium_file.html",
            session,
            file_path=path,
            text=text,
            cards=cards,
            error=error,
            lines=len(text.splitlines()),
        )

    return guarded(request, Role.VIEWER, page)


@router.get("/compendium/card", include_in_schema=False)
def card_page(request: Request, id: str = "") -> Response:
    """One card as it stands and every recorded change of it, with its evidence."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        comp = compendium_of(state)
        found = next((f for f in department_cards(comp) if f.card.card_id == id), None)
        history = card_history(changes(state.ledger), id)
        if found is None and not history:
            raise NotFoundError(f"no card {id!r}")
        return render(
            request, "compendium_card.html", session, card_id=id, found=found, history=history
        )

    return guarded(request, Role.VIEWER, page)
