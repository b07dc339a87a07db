"""The editable price table: USD per million input and output tokens, per model.

The table shipped in the package (``prices.yaml``) is the default; a file named by the
``TAILGUARD_PRICES`` environment variable, or passed explicitly, replaces it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from tailguard.errors import ConfigFileError, InvalidInputError
from tailguard.roles.providers.base import Usage

PRICES_ENV = "TAILGUARD_PRICES"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPrice:
    """USD per million input tokens and per million output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        """What ``usage`` costs at this price, in USD."""
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class PriceTable:
    """Prices by ``<provider>:<model>`` key, with longest-prefix lookup for dated ids."""

    prices: Mapping[str, ModelPrice]
    source: str

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (``provider:model``), or ``None`` when it has none."""
        if model in self.prices:
            return self.prices[model]
        candidates = [key for key in self.prices if model.startswith(key)]
        return self.prices[max(candidates, key=len)] if candidates else None

    def require(self, model: str) -> ModelPrice:
        """The price of ``model``; refuses a model with no price (cost caps need one)."""
        price = self.lookup(model)
        if price is None:
            raise InvalidInputError(
                f"no price for model {model!r} in {self.source}; add it to the price table "
                f"or set {PRICES_ENV} to a file that has it"
            )
        return price


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _number(node: yaml.Node, path: str, what: str) -> float:
    if not isinstance(node, yaml.ScalarNode) or node.tag not in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    ):
        raise ConfigFileError(path, _line(node), f"{what} must be a number")
    value = float(yaml.safe_load(yaml.serialize(node)))
    if not math.isfinite(value) or value < 0:
        raise ConfigFileError(path, _line(node), f"{what} must be a finite number >= 0")
    return value


def parse_prices(text: str, *, source: str) -> PriceTable:
    """Parse a price file; any defect is a :class:`ConfigFileError` with file and line.

    Shape: ``models: {"<provider>:<model>": {input: <USD/Mtok>, output: <USD/Mtok>}}``.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigFileError(source, line, f"not valid YAML: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigFileError(source, None, "expected a mapping with a 'models' key")
    models_node: yaml.Node | None = None
    for key, value in root.value:
        if not isinstance(key, yaml.ScalarNode) or key.value != "models":
            raise ConfigFileError(source, _line(key), f"unknown key {key.value!r}")
        models_node = value
    if not isinstance(models_node, yaml.MappingNode):
        line = _line(models_node) if models_node is not None else None
        raise ConfigFileError(source, line, "'models' must be a mapping of model -> price")
    prices: dict[str, ModelPrice] = {}
    for key, value in models_node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if not isinstance(name, str) or ":" not in name or name.startswith(":"):
            raise ConfigFileError(source, _line(key), "a model key must be '<provider>:<model>'")
        if name in prices:
            raise ConfigFileError(source, _line(key), f"model {name!r} is listed twice")
        if not isinstance(value, yaml.MappingNode):
            raise ConfigFileError(source, _line(value), f"{name}: expected {{input, output}}")
        fields: dict[str, float] = {}
        for fkey, fvalue in value.value:
            if not isinstance(fkey, yaml.ScalarNode) or fkey.value not in ("input", "output"):
                raise ConfigFileError(source, _line(fkey), f"{name}: unknown field {fkey.value!r}")
            fields[fkey.value] = _number(fvalue, source, f"{name}.{fkey.value}")
        missing = {"input", "output"} - fields.keys()
        if missing:
            raise ConfigFileError(source, _line(value), f"{name}: missing {sorted(missing)}")
        prices[name] = ModelPrice(input_per_mtok=fields["input"], output_per_mtok=fields["output"])
    return PriceTable(prices=prices, source=source)


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The price table from ``path``, else ``$TAILGUARD_PRICES``, else the packaged one."""
    chosen = path if path is not None else os.environ.get(PRICES_ENV)
    if chosen:
        file = Path(chosen)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigFileError(str(file), None, f"cannot read: {exc.strerror}") from None
        return parse_prices(text, source=str(file))
    packaged = resources.files("tailguard.roles.providers").joinpath("prices.yaml")
    return parse_prices(packaged.read_text(encoding="utf-8"), source="tailguard:prices.yaml")
