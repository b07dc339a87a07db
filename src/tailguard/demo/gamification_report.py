"""The report's "Technicians as co-optimisers" section, from ``summary.json``'s
``gamification`` key (absent or ``{"enabled": false}``: the section says it did not run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailguard.demo.tables import fmt_num, fmt_usd

_LAYERS = (
    ("ftf_bonus", "Bonus per recorded first-time fix"),
    ("kit_streak", "Parts-kit streak prize"),
    ("coop", "Co-op team goal"),
    ("missions", "Sprint missions (techs with one vs randomised control techs)"),
)


def gamification_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Layers with their recorded and true effects, gaming flags, spend, missions, boards."""
    game = summary.get("gamification")
    if not isinstance(game, Mapping) or not game.get("enabled"):
        return {"gamification": None}
    layers = []
    for key, title in _LAYERS:
        layer = (game.get("layers") or {}).get(key)
        if not layer:
            continue
        on = layer.get("areas_on", layer.get("techs_mission"))
        off = layer.get("areas_off", layer.get("techs_control"))
        layers.append(
            {
                "title": title,
                "on": on,
                "off": off,
                "recorded": _effect(layer.get("recorded_ftf_gain_points")),
                "true": _effect(layer.get("true_ftf_gain_points")),
            }
        )
    det = game.get("gaming_detection") or {}
    return {
        "gamification": {
            "layers": layers,
            "detection": {
                "precision": fmt_num(det.get("precision"), 2),
                "recall": fmt_num(det.get("recall"), 2),
                "flagged": det.get("flagged", 0),
                "gamers": det.get("gamers", 0),
                "material": det.get("material", 3),
            },
            "spend": "; ".join(
                f"{k.replace('_', ' ')} {fmt_usd(v)}"
                for k, v in (game.get("spend_by_kind_usd") or {}).items()
            ),
            "spend_total": fmt_usd(game.get("spend_usd", 0.0)),
            "kits": _counts(game.get("kits"), ("paid", "earned", "over_budget")),
            "coop": _counts(game.get("coop"), ("met", "checked")),
            "missions": _counts(
                game.get("missions"), ("completed", "failed", "expired", "open", "xp")
            ),
            "withheld": game.get("withheld", 0),
            "boards": (game.get("techpower") or {}).get("boards") or {},
            "week": (game.get("techpower") or {}).get("week"),
        }
    }


def _counts(block: Any, keys: tuple[str, ...]) -> dict[str, int]:
    block = block if isinstance(block, Mapping) else {}
    return {k: int(block.get(k) or 0) for k in keys}


def _effect(stat: Any) -> str:
    if not isinstance(stat, Mapping) or stat.get("mean") is None:
        return "not enough data"
    ci = stat.get("ci95")
    text = f"{stat['mean']:+.2f}"
    return text if not ci else f"{text} ({ci[0]:+.2f} to {ci[1]:+.2f})"
