"""The built-in rule set: INTERFACES.md section 4 (critical) and the guard-bands (warning)."""

from __future__ import annotations

from typing import Final

from tailguard.rules.guardbands import BREACH_OP, GUARD_BANDS

RED_TAILS_YAML: Final = """\
groups:
  - name: red_tails
    rules:
      - alert: low_earnings_tail
        expr: "earnings_p10_week < 600"
        labels: {severity: critical, agent: technician_assistant}
        annotations:
          summary: "P10 tech earnings {{ $value }} USD/week < {{ $threshold }} in {{ $labels.area_id }}"
      - alert: late_tail
        expr: "lateness_p90_min > 30"
        labels: {severity: critical, agent: roster_routing}
        annotations:
          summary: "P90 lateness {{ $value }} min > {{ $threshold }} in {{ $labels.area_id }}"
      - alert: nps_detractor_tail
        expr: "nps_p10 < 5"
        labels: {severity: critical, agent: cx}
        annotations:
          summary: "P10 NPS {{ $value }} < {{ $threshold }} in {{ $labels.area_id }}"
      - alert: recall_tail
        expr: "recall_pct_p90 > 15"
        labels: {severity: critical, agent: technician_assistant}
        annotations:
          summary: "P90 recall {{ $value }} % > {{ $threshold }} in {{ $labels.area_id }}"
      - alert: parts_lead_time_spike
        expr: "parts_lead_time_p95_days > 5"
        labels: {severity: critical, agent: parts}
        annotations:
          summary: "P95 parts lead time {{ $value }} days > {{ $threshold }} in {{ $labels.area_id }}"
"""


def _guard_band_yaml() -> str:
    lines = ["  - name: guard_bands", "    rules:"]
    for band in GUARD_BANDS:
        if band.kind != "threshold":
            continue  # jobs/week YoY needs last year's value: see rules.guardbands
        lines += [
            f"      - alert: guard_{band.id}",
            f"        kpi: {band.kpi}",
            f'        op: "{BREACH_OP[band.inside_op]}"',
            f"        threshold: {band.bound:g}",
            "        labels: {severity: warning, agent: area_agent}",
            "        annotations:",
            f'          summary: "guard-band {band.doc} broken: {{{{ $kpi }}}} = {{{{ $value }}}} in {{{{ $labels.area_id }}}}"',
        ]
    return "\n".join(lines) + "\n"


#: The whole built-in rule file.
BUILTIN_YAML: Final = RED_TAILS_YAML + _guard_band_yaml()
