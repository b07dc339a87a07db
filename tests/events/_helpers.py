"""Valid events of each type as JSON mappings, for the event tests."""

from __future__ import annotations

from typing import Any

VALID: dict[str, dict[str, Any]] = {
    "job.booked": {
        "job_id": "J-1",
        "customer_id": "C-1",
        "zip": "94107",
        "job_code": "HVAC-1",
        "window_start": "2026-01-05T10:00:00Z",
        "window_end": "2026-01-05T12:00:00Z",
    },
    "job.completed": {
        "job_id": "J-1",
        "tech_id": "T-1",
        "customer_id": "C-1",
        "zip": "94107",
        "job_code": "HVAC-1",
        "window_end": "2026-01-05T12:00:00Z",
        "arrived_at": "2026-01-05T12:10:00.250000Z",
        "completed_at": "2026-01-05T13:00:00Z",
        "revenue": 250.5,
        "parts_cost": 40.0,
        "tech_pay": 90.0,
        "first_time_fix": True,
        "recall_of_job_id": None,
        "original_tech_id": None,
        "parts_prestaged": 2,
        "parts_used": 1,
    },
    "tech.status": {"tech_id": "T-1", "status": "available"},
    "cx.survey": {"job_id": "J-1", "customer_id": "C-1", "tech_id": "T-1", "nps": 9},
    "cx.chat": {"customer_id": "C-1", "sentiment": -0.25},
    "parts.stock": {"locker_id": "L-1", "sku": "SKU-1", "on_hand": 4, "lead_time_days": 2.5},
    "eta.update": {"job_id": "J-1", "tech_id": "T-1", "eta": "2026-01-05T11:45:00Z"},
}


def event(event_type: str, event_id: Any = "E-1", **changes: Any) -> dict[str, Any]:
    """A valid event of ``event_type`` with ``changes`` applied (a value of ... deletes)."""
    obj: dict[str, Any] = {
        "event_id": event_id,
        "type": event_type,
        "ts": "2026-01-05T09:00:00Z",
        "area_id": "PA-0001",
        **VALID[event_type],
    }
    if event_id is ...:
        del obj["event_id"]
    for key, value in changes.items():
        if value is ...:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj
