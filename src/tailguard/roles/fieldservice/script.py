"""The scripted model's rules for the field-service reference questions (offline, no API key).

The scripted provider is a stand-in for a model: every reply it writes is marked as such by
the loop (``AgentReply.stand_in``) and by the surfaces that show it.
"""

from __future__ import annotations

from tailguard.roles.providers.scripted import ScriptedCall, ScriptRule

_AREA = r"(?P<area>[A-Za-z]{2}-\d{1,6})"
_DAY = r"(?P<day>today|yesterday|\d{1,3} days? ago|\d{4}-\d{2}-\d{2})"

OPS_RULES: tuple[ScriptRule, ...] = (
    # "why did PA-0004 get a surge window yesterday, and did it work?"
    ScriptRule(
        pattern=rf"\bwhy did {_AREA} (?:get|have|receive) (?:an? )?(?P<kind>[a-z_ ]+?)"
        rf"(?: pay)?(?: window| offer| intervention)?s? (?:on )?{_DAY}",
        calls=(
            ScriptedCall(
                tool="fs_explain_intervention",
                args={"area_id": "{area}", "day": "{day}", "kind": "{kind}"},
            ),
        ),
    ),
    ScriptRule(
        pattern=rf"\b(?:what|which) interventions? (?:did|in|for) {_AREA}",
        calls=(ScriptedCall(tool="fs_interventions", args={"area_id": "{area}"}),),
    ),
    ScriptRule(
        pattern=r"\b(?:tails?|breach\w*|worst areas?)\b",
        calls=(ScriptedCall(tool="fs_tails"),),
    ),
    ScriptRule(
        pattern=rf"\b(?:how is|scorecard (?:of|for)|trend (?:of|for)) {_AREA}",
        calls=(ScriptedCall(tool="fs_area_scorecard", args={"area_id": "{area}"}),),
    ),
    ScriptRule(
        pattern=r"\bpulse\b(?: (?:of|for) (?P<area>[A-Za-z]{2}-\d{1,6}))?",
        calls=(ScriptedCall(tool="fs_pulse", args={"area_id": "{area}"}),),
    ),
    ScriptRule(pattern=r"\bokrs?\b", calls=(ScriptedCall(tool="fs_okrs"),)),
    ScriptRule(
        pattern=r"\b(?P<decision>approve|reject) (?:gate )?(?P<gate>gate_[A-Za-z0-9]+)",
        calls=(
            ScriptedCall(
                tool="fs_decide_approval", args={"gate_id": "{gate}", "decision": "{decision}"}
            ),
        ),
    ),
    ScriptRule(
        pattern=r"\b(?:approvals?|waiting for (?:me|approval)|pending gates?)\b",
        calls=(ScriptedCall(tool="fs_approvals"),),
    ),
)
