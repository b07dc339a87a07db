"""YAML files that users edit, parsed with the line of every value remembered.

Rule files, the intervention catalogue and other configuration are composed into YAML nodes
(each carries its ``start_mark``), turned into plain Python while remembering the line of every
path, and validated with pydantic; a refusal names the file, the line and the reason as a
:class:`~tailguard.errors.ConfigFileError`, and nothing else escapes.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from tailguard.errors import ConfigFileError

#: A path into parsed YAML: mapping keys and sequence indexes.
Path_ = tuple[str | int, ...]
_MAX_DEPTH = 64


class Lines:
    """The 1-based line of every path seen while parsing."""

    def __init__(self) -> None:
        self.by_path: dict[Path_, int] = {}

    def nearest(self, path: Path_) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            line = self.by_path.get(path[:cut])
            if line is not None:
                return line
        return None


def _to_python(
    node: yaml.Node, path: Path_, lines: Lines, loader: yaml.SafeLoader, depth: int, file: str
) -> Any:
    line = node.start_mark.line + 1
    lines.by_path.setdefault(path, line)
    if depth > _MAX_DEPTH:
        raise ConfigFileError(file, line, "nesting too deep (or a recursive alias)")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigFileError(
                    file, key_node.start_mark.line + 1, "mapping keys must be plain scalars"
                )
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise ConfigFileError(file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            lines.by_path[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), lines, loader, depth + 1, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, i), lines, loader, depth + 1, file)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node)


def parse_yaml(text: str, file: str, *, what: str = "file") -> tuple[Any, Lines]:
    """Parse YAML text into plain Python plus the line of every path.

    Args:
        text: the YAML.
        file: the file name used in error messages.
        what: what the file is, for the empty-file message (e.g. ``rule file``).

    Raises:
        ConfigFileError: invalid or empty YAML, duplicate keys, non-scalar keys, deep nesting.
    """
    lines = Lines()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            raise ConfigFileError(file, None, f"the {what} is empty")
        loader = yaml.SafeLoader("")
        try:
            data = _to_python(root, (), lines, loader, 0, file)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigFileError(
            file, mark.line + 1 if mark else None, f"invalid YAML: {reason}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(file, None, f"invalid YAML: {' '.join(str(exc).split())}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigFileError(file, None, f"invalid YAML: {type(exc).__name__}") from None
    return data, lines


def pydantic_error(exc: ValidationError, lines: Lines, file: str) -> ConfigFileError:
    """The first pydantic validation error as a file/line/reason error."""
    first = exc.errors()[0]
    loc = tuple(first.get("loc", ()))
    where = ".".join(str(p) for p in loc) or "(top level)"
    msg = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    return ConfigFileError(file, lines.nearest(loc), f"{where}: {msg}")
