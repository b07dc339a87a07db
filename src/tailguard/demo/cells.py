"""The demo's eligible units for the crowd exchange's local tests (the cells themselves are
:mod:`tailguard.crowd.cells`, re-exported here).

In the simulated network each area's zips, technician slots and SKUs are known, so a test of a
zip, technician or SKU tactic lists its units and draws its B cell when it starts; customers
stay an open population (their batches get a cell on first sight).
"""

from __future__ import annotations

from tailguard.crowd.cells import OPEN_KINDS, LocalCells, describe, tactic_arms
from tailguard.sim.ids import area_id, tech_id
from tailguard.sim.network import Network

__all__ = ["OPEN_KINDS", "LocalCells", "describe", "eligible_units", "tactic_arms"]


def eligible_units(net: Network) -> dict[str, dict[str, list[str]]]:
    """The simulated network's eligible units by kind and area: zips, technician slots (hired
    later or not: an area's technicians are its slots) and SKUs (every area stocks them all)."""
    areas = [area_id(i) for i in range(net.n_areas)]
    zips = net.areas_frame()["zips"].to_list()
    techs = [
        [tech_id(int(s) + k) for k in range(int(n))]
        for s, n in zip(net.area_tech_start, net.area_tech_count, strict=True)
    ]
    return {
        "zip": dict(zip(areas, zips, strict=True)),
        "tech": dict(zip(areas, techs, strict=True)),
        "sku": {a: list(net.sku_codes) for a in areas},
    }
