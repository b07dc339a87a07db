"""The knowledge compendium: per-department Markdown, pattern cards, the curator, sharding.

>>> from tailguard.compendium import Compendium, curate
>>> report = curate(control_plane, Compendium("compendium"))  # doctest: +SKIP

Every change of a file is a governed ``compendium_write`` call recorded in the ledger with the
file's hash before and after (:mod:`.tools`); :func:`verify` replays that history against the
files. See ``docs/compendium.md``.
"""

from tailguard.compendium.cards import Card, CardFormatError, Effect, parse_cards, render_cards
from tailguard.compendium.curator import CurateReport, ProseWriter, Schedule, curate
from tailguard.compendium.extract import CuratorSettings
from tailguard.compendium.history import card_history, changes, freshness, verify
from tailguard.compendium.readers import department_cards, problems, prompt_section, search
from tailguard.compendium.shard import MAX_LINES, plan_shard, shard_all
from tailguard.compendium.tools import CompendiumWriter, compendium_tools, register_tools
from tailguard.compendium.tree import Compendium, content_hash, default_dir

__all__ = [
    "MAX_LINES",
    "Card",
    "CardFormatError",
    "Compendium",
    "CompendiumWriter",
    "CurateReport",
    "CuratorSettings",
    "Effect",
    "ProseWriter",
    "Schedule",
    "card_history",
    "changes",
    "compendium_tools",
    "content_hash",
    "curate",
    "default_dir",
    "department_cards",
    "freshness",
    "parse_cards",
    "plan_shard",
    "problems",
    "prompt_section",
    "register_tools",
    "render_cards",
    "search",
    "shard_all",
    "verify",
]
