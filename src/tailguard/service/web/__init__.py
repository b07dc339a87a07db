"""The browser dashboard: sign-in, approvals inbox, run monitor, costs, audit log, quality,
network view, the coaches' page, the compendium pages and the role chat pages (server-rendered Jinja2, local CSS/JS,
inline SVG plots).

``create_app`` includes :data:`router`. Every page but the sign-in page and the static assets
needs a signed-in session (:mod:`.session`); every form post carries a CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter

from tailguard.service.web import (
    approvals,
    chat,
    coaches,
    compendium,
    dashboards,
    gamification,
    learning,
    network,
    ops,
    rollback,
    signin,
)

router = APIRouter(include_in_schema=False)
router.include_router(signin.router)
router.include_router(approvals.router)
router.include_router(dashboards.router)
router.include_router(network.router)
router.include_router(chat.router)
router.include_router(coaches.router)
router.include_router(learning.router)
router.include_router(gamification.router)
router.include_router(compendium.router)
router.include_router(ops.router)
router.include_router(rollback.router)

__all__ = ["router"]
