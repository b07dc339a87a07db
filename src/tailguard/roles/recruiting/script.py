"""The scripted provider's rules for the recruiting roles (offline demo and tests).

Each rule maps a phrase in the user's message to tool calls; the scripted provider offers a
rule's calls only to a role that has those tools (see
:mod:`tailguard.roles.providers.scripted` for the exact behaviour).
"""

from __future__ import annotations

from tailguard.roles.providers import ScriptedCall, ScriptRule

_STAGES = "lead|contacted|screening|interview|offer|hired|rejected|withdrawn"

# Words that stand where a name would in ordinary phrasings ("send a message to John", "text
# me later", "message them all") and are never a candidate's name: a message is addressed to
# a name only, and the tool resolves it against the pipeline.
_NOT_NAMES = (
    "a|an|the|to|me|my|him|her|them|they|us|our|you|your|it|all|everyone|everybody|someone|"
    "somebody|anyone|candidates?|drivers?|team|back|again|that|this|saying|about|for|with|and|"
    "of|on|in|please|now|later|today|tomorrow"
)
#: A candidate's first name (or driver id), never one of :data:`_NOT_NAMES`.
_NAME = rf"(?P<name>(?!(?:{_NOT_NAMES})\b)(?:D-\d{{4}}|[A-Za-z][A-Za-z'-]*))"
#: What follows the name: an optional colon or comma, "saying" or "that", then the text,
#: which may be quoted.
_CONTENT = r"\b[:,]?\s*(?:saying:?\s+|that\s+)?[\"“]?(?P<content>[^\"”]+)[\"”]?"
_MESSAGE = "(?:message|text|note|sms|email)"


def _rule(pattern: str, *calls: tuple[str, dict[str, object]]) -> ScriptRule:
    return ScriptRule(pattern=pattern, calls=tuple(ScriptedCall(tool=n, args=a) for n, a in calls))


RECRUITING_RULES: tuple[ScriptRule, ...] = (
    # driver
    _rule(
        r"(?:carriers|jobs|postings|matches)\b.*?near (?P<zip>\d{5})(?:.*?\$(?P<cpm>\d*\.\d+))?",
        ("find_matches", {"zip": "{zip}", "minCpm": "{cpm:float}"}),
    ),
    _rule(r"parking near (?P<zip>\d{5})", ("find_parking", {"zip": "{zip}"})),
    _rule(r"road conditions (?:near|around) (?P<zip>\d{5})", ("road_conditions", {"zip": "{zip}"})),
    _rule(r"road conditions on (?P<route>I-\d+)", ("road_conditions", {"route": "{route}"})),
    _rule(
        r"explain (?:match )?(?P<posting>P-\d{4})", ("explain_match", {"postingId": "{posting}"})
    ),
    _rule(
        r"apply (?:to|for) (?P<posting>P-\d{4})", ("submit_application", {"postingId": "{posting}"})
    ),
    _rule(r"\bmy (?:stats|profile)\b", ("get_driver_stats", {})),
    _rule(r"safety (?:of|for) DOT (?P<dot>\d{7})", ("get_fmcsa_data", {"dotNumber": "{dot:int}"})),
    # recruiter
    _rule(r"\bpipeline\b", ("get_pipeline", {})),
    _rule(
        rf"\b(?:update|move) (?P<name>[A-Za-z]+) to (?P<stage>{_STAGES})\b",
        ("update_candidate_status", {"candidate": "{name}", "newStatus": "{stage}"}),
    ),
    # "Message John: ...", "Text John saying ...", "Message John that ..."
    _rule(
        rf"^\W*(?:(?:please|can you|could you|now)\W+)*(?:message|text|sms|email) {_NAME}{_CONTENT}",
        ("send_message", {"candidate": "{name}", "content": "{content}"}),
    ),
    # "Send John a message: ...", "Send John a text saying ..."
    _rule(
        rf"\b(?:send|write|drop) {_NAME} an? {_MESSAGE}{_CONTENT}",
        ("send_message", {"candidate": "{name}", "content": "{content}"}),
    ),
    # "Send a message to John: ...", "Send a text to John saying ...", "Write to John: ..."
    _rule(
        rf"\b(?:send|write|drop)(?: an?| the)?(?: {_MESSAGE})? to {_NAME}{_CONTENT}",
        ("send_message", {"candidate": "{name}", "content": "{content}"}),
    ),
    # "Tell John that ...", "Let John know that ..."
    _rule(
        rf"\b(?:tell|let) {_NAME}(?: know)?{_CONTENT}",
        ("send_message", {"candidate": "{name}", "content": "{content}"}),
    ),
    _rule(
        r"\binterview (?:with|for) (?P<name>[A-Za-z]+) (?:at|on) (?P<when>\d{4}-\d\d-\d\dT[\d:]+Z)",
        ("schedule_interview", {"candidate": "{name}", "scheduledFor": "{when}"}),
    ),
    _rule(r"\bmarket\b", ("get_market_intel", {}), ("get_lane_demand", {})),
    _rule(r"\b(?:pay|compensation) benchmarks?\b", ("get_compensation_benchmarks", {})),
    _rule(r"\b(?:my analytics|my funnel)\b", ("get_recruiter_analytics", {})),
    # carrier
    _rule(r"signals for account (?P<acct>ACC-\d{3,})", ("get_signals", {"accountId": "{acct}"})),
    _rule(r"^(?:show|get) account (?P<acct>ACC-\d{3,})", ("get_account", {"accountId": "{acct}"})),
    _rule(r"\bopportunities\b", ("get_opportunities", {})),
    _rule(r"\bhiring benchmarks?\b", ("get_hiring_benchmarks", {})),
    _rule(r"\bconversion insights?\b", ("get_conversion_insights", {})),
    # every role, when the compendium is on
    _rule(r"\bcompendium (?:for|about) (?P<q>[^?.!]+)", ("search_compendium", {"query": "{q}"})),
    # admin
    _rule(r"\bsystem health\b", ("get_system_health", {})),
    _rule(r"\b(?:agent )?kpis?\b", ("get_agent_kpis", {})),
    _rule(
        r"\bset the (?P<role>driver|recruiter|carrier|admin) prompt to \"(?P<text>[^\"]+)\"",
        (
            "manage_prompts",
            {"action": "create", "promptId": "{role}_system", "role": "{role}", "text": "{text}"},
        ),
    ),
)
