"""Ground truth for scoring agents: hidden effects, true fix rates, gaming, spend.

Only scoring code (the demo's report, tests, learning evaluation offline) may use this; an
agent sees events and :class:`~tailguard.sim.interventions.ActuationResult` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tailguard.sim.ids import area_id, tech_id

if TYPE_CHECKING:
    from tailguard.sim.engine import Simulator


class Evaluation:
    """A read-only view of a simulator's ground truth.

    Args:
        sim: the simulator to read.
    """

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def interventions(self) -> pl.DataFrame:
        """Every apply() so far with its hidden true effect parameters (JSON text)."""
        import json

        log = self._sim._log
        return pl.DataFrame(
            {
                "intervention_id": [r["intervention_id"] for r in log],
                "kind": [r["kind"] for r in log],
                "area_id": [
                    area_id(int(r["area_index"])) if int(r["area_index"]) >= 0 else None  # type: ignore[call-overload]
                    for r in log
                ],
                "applied_at": [r["applied_at"] for r in log],
                "accepted": [r["accepted"] for r in log],
                "reason": [r["reason"] for r in log],
                "cost_usd": [r["cost_usd"] for r in log],
                "true_effect": [json.dumps(r["hidden"], sort_keys=True) for r in log],
            },
            schema={
                "intervention_id": pl.String,
                "kind": pl.String,
                "area_id": pl.String,
                "applied_at": pl.Datetime("us", "UTC"),
                "accepted": pl.Boolean,
                "reason": pl.String,
                "cost_usd": pl.Float64,
                "true_effect": pl.String,
            },
        )

    def quality(self) -> pl.DataFrame:
        """Per area: visits, true and recorded first-time fix %, gamed fixes, parts misses."""
        st = self._sim._st
        first = np.maximum(st.truth_first, 1)
        return pl.DataFrame(
            {
                "area_id": [area_id(i) for i in range(self._sim.net.n_areas)],
                "visits": st.truth_visits.copy(),
                "true_ftf_pct": 100.0 * st.truth_fixed / first,
                "recorded_ftf_pct": 100.0 * st.truth_recorded / first,
                "gamed_fixes": st.truth_gamed.copy(),
                "recalls_caused": st.truth_recalls_made.copy(),
                "parts_missing": st.truth_parts_missing.copy(),
                "first_visits": st.truth_first.copy(),
                "true_fixes": st.truth_fixed.copy(),
                "recorded_fixes": st.truth_recorded.copy(),
            }
        )

    def gaming(self) -> pl.DataFrame:
        """Per tech: the latent gamer flag, recorded first-time fixes, and how many were gamed
        (failures recorded as fixes); ``withheld`` when the tech's fix bonus was stopped."""
        st, net = self._sim._st, self._sim.net
        return pl.DataFrame(
            {
                "tech_id": [tech_id(i) for i in range(net.n_techs)],
                "area_id": [area_id(int(a)) for a in net.tech_area],
                "gamer": st.tech_gaming > 0,
                "recorded_fixes": st.truth_fixes_tech.copy(),
                "gamed_fixes": st.truth_gamed_tech.copy(),
                "withheld": st.bonus_withheld.copy(),
                "first_visits": st.truth_first_tech.copy(),
                "true_fixes": st.truth_true_fixes_tech.copy(),
            }
        )

    def spend(self) -> dict[str, float]:
        """Money spent so far per intervention kind (committed costs plus bonuses paid)."""
        return {k: round(v, 2) for k, v in sorted(self._sim._st.spend.items())}
