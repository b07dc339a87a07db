"""Strings containing NUL (``\\x00``): found at the edge, and documented in the schema.

PostgreSQL text cannot hold a NUL byte, so a query or path parameter or a JSON string carrying
one would fail deep in a query as a 5xx. :mod:`tailguard.service.guard` looks at every ``/v1``
request's path, query string and JSON body with these helpers and answers 422
``invalid_input`` when any of them holds a NUL, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import Scope

NUL = "\x00"
PREFIX = "/v1"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def find_nul(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The location of the first string (or object key) holding a NUL in decoded JSON, or None."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return (*loc, str(key))
            found = find_nul(item, (*loc, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, (*loc, index))
            if found is not None:
                return found
    return None


def query_nul(query_string: bytes) -> tuple[str | int, ...] | None:
    raw = query_string.decode("latin-1")
    if NUL not in raw and NUL not in unquote(raw):
        return None
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if NUL in name or NUL in value:
            return ("query", name)
    return ("query",)


def path_nul(scope: Scope) -> tuple[str | int, ...] | None:
    raw_path: bytes = scope.get("raw_path") or b""
    path: str = scope.get("path", "")
    if NUL in path or NUL in unquote(raw_path.decode("latin-1")):
        return ("path",)
    return None


NUL_FREE_PATTERN = "^[^\\u0000]*$"
"""The pattern documenting, in the OpenAPI schema, that a string may not hold NUL."""


NUL_FREE_JSON = "NulFreeJson"
"""The schema component of any JSON value whose strings and keys hold no NUL."""


def nul_free_json() -> dict[str, Any]:
    """The recursive schema of :data:`NUL_FREE_JSON`."""
    ref = {"$ref": f"#/components/schemas/{NUL_FREE_JSON}"}
    return {
        "description": "Any JSON value; no string or key holds NUL (\\u0000).",
        "anyOf": [
            {"type": "string", "pattern": NUL_FREE_PATTERN},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": ref},
            {
                "type": "object",
                "propertyNames": {"pattern": NUL_FREE_PATTERN},
                "additionalProperties": ref,
            },
        ],
    }


def document_nul_free(schema: dict[str, Any], prefix: str = PREFIX) -> None:
    """Document, in place, that the strings ``/v1`` operations accept cannot hold NUL.

    Adds :data:`NUL_FREE_PATTERN` to every plain string (no pattern, format, enum or const) of
    the parameters and request bodies of ``/v1`` operations, following ``$ref`` into the
    components, and a ``propertyNames`` pattern to free-form objects. The values of a free-form
    object (a tool call's ``args``) stay undescribed: any JSON, where a NUL is still a 422.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    seen: set[str] = set()

    def patch(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                patch(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen and name in components:
                seen.add(name)
                patch(components[name])
            return
        plain = not any(key in node for key in ("pattern", "format", "enum", "const"))
        if node.get("type") == "string" and plain:
            node["pattern"] = NUL_FREE_PATTERN
        if node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            node.setdefault("propertyNames", {"pattern": NUL_FREE_PATTERN})
            if node.get("additionalProperties", True) is True:
                # Free-form values (a tool call's args): any JSON, but no NUL in any string.
                node["additionalProperties"] = {"$ref": f"#/components/schemas/{NUL_FREE_JSON}"}
                components.setdefault(NUL_FREE_JSON, nul_free_json())
        for key in ("anyOf", "oneOf", "allOf", "items", "prefixItems"):
            patch(node.get(key))
        for key in ("properties", "patternProperties"):
            if isinstance(node.get(key), dict):
                patch(list(node[key].values()))
        if isinstance(node.get("additionalProperties"), dict):
            patch(node["additionalProperties"])

    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(prefix) or not isinstance(operations, dict):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                patch(parameter.get("schema"))
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                patch(media.get("schema"))
