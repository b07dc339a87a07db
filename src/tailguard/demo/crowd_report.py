"""The report's "Learning from the crowd" section, from ``summary.json``'s ``crowd`` key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailguard.demo import charts
from tailguard.demo.tables import fmt_num


def crowd_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Counts, discoveries, Innovation Delta leaders and one tactic's spread (None: not run)."""
    crowd = summary.get("crowd")
    if not isinstance(crowd, Mapping):
        return {"crowd": None}
    spread = crowd.get("spread")
    rows = list((spread or {}).get("areas_by_week") or [])
    tests = crowd.get("tests") or {}
    seeded = crowd.get("seeded_history")
    return {
        "crowd": {
            "nights": crowd.get("nights", 0),
            "published": crowd.get("published_tactics", 0),
            "distinct": crowd.get("distinct_tactics", 0),
            "areas": crowd.get("publishing_areas", 0),
            "clusters": crowd.get("clusters", 0),
            "lifts": crowd.get("lifts_estimated", 0),
            "tests": {
                k: tests.get(k, 0) for k in ("started", "adopted", "dropped", "stopped", "open")
            },
            "discoveries": [
                {
                    "tactic": d["tactic"],
                    "kpi": d["kpi"],
                    "cluster": d["cluster"],
                    "lift": fmt_num(d["lift"], 2),
                    "ci": f"{d['ci95'][0]:+.2f} to {d['ci95'][1]:+.2f}",
                    "adopters": d["adopters"],
                }
                for d in crowd.get("discoveries") or []
            ][:10],
            "leaders": [
                {**r, "points": fmt_num(r["points"], 2)}
                for r in crowd.get("innovation_delta_leaders") or []
            ],
            "history": None
            if not isinstance(seeded, Mapping)
            else {
                "weeks": seeded.get("weeks", 0),
                "areas": seeded.get("areas", 0),
                "adoptions": seeded.get("adoptions", 0),
                "helpful": sum(1 for t in seeded.get("truth") or [] if t["effect"] > 0),
                "pairs": len(seeded.get("truth") or []),
            },
            "spread_tactic": None if spread is None else spread["tactic"],
            "spread_kpi": None if spread is None else spread["kpi"],
            "spread_rows": rows,
            "spread_svg": charts.spread_plot(str(spread["tactic"]), rows)
            if spread and rows
            else None,
        }
    }
