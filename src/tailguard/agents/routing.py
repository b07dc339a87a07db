"""Which URL serves each downstream agent, and a downstream that routes jobs by agent name.

``tailguard agents run --downstream URL`` sends every catalogue agent's jobs to one base URL;
``--downstream NAME=URL`` (repeatable) gives agent ``NAME`` (an entry's ``downstream``) its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tailguard.agents.downstream import DownstreamResult, InterventionJob, RestDownstream
from tailguard.errors import InvalidInputError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _http_url(text: str, raw: str) -> str:
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:
        raise InvalidInputError(f"--downstream {raw!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"--downstream {raw!r}: expected an http(s) URL or NAME=URL")
    if parts.query or parts.fragment:
        raise InvalidInputError(
            f"--downstream {raw!r}: a base URL takes no query or fragment "
            "(jobs go to {base}/v1/interventions)"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidInputError(f"--downstream {raw!r}: bad port") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True, kw_only=True, slots=True)
class DownstreamRoutes:
    """Which base URL serves each downstream agent named in the catalogue.

    Attributes:
        default: the URL of every agent without its own (None: each needs its own).
        by_name: agent name (a catalogue entry's ``downstream``) -> its base URL.
    """

    default: str | None = None
    by_name: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: Sequence[str]) -> DownstreamRoutes:
        """Parse ``--downstream`` values: one bare ``URL`` (the default), any ``NAME=URL``.

        Raises:
            InvalidInputError: not an http(s) URL, two defaults, or a name given twice.
        """
        default: str | None = None
        by_name: dict[str, str] = {}
        for raw in values:
            name, sep, rest = raw.strip().partition("=")
            if sep and _NAME.fullmatch(name):
                if name in by_name:
                    raise InvalidInputError(f"--downstream: {name!r} is given twice")
                by_name[name] = _http_url(rest, raw)
                continue
            url = _http_url(raw, raw)
            if default is not None:
                raise InvalidInputError(
                    f"--downstream: two default URLs ({default} and {url}); "
                    "name the agent of one of them as NAME=URL"
                )
            default = url
        return cls(default=default, by_name=by_name)

    def url_for(self, name: str) -> str | None:
        """The base URL of agent ``name`` (None when it has none)."""
        return self.by_name.get(name, self.default)

    def urls(self) -> list[str]:
        """Every distinct base URL."""
        found = [*self.by_name.values(), *([self.default] if self.default else [])]
        return sorted(set(found))

    def check(self, names: Iterable[str]) -> None:
        """Refuse routes that leave an agent of the catalogue without a URL, or name no agent.

        Raises:
            InvalidInputError: naming the first such agent.
        """
        wanted = sorted(set(names))
        missing = [n for n in wanted if self.url_for(n) is None]
        if missing:
            raise InvalidInputError(
                f"no downstream URL for {', '.join(missing)} "
                "(give --downstream URL for all, or --downstream NAME=URL)"
            )
        unknown = sorted(set(self.by_name) - set(wanted))
        if unknown:
            raise InvalidInputError(
                f"--downstream names {', '.join(unknown)}, which no catalogue entry uses "
                f"(its agents: {', '.join(wanted)})"
            )


class RoutedDownstream:
    """A :class:`~tailguard.agents.downstream.DownstreamAgent` sending each job to its agent's URL.

    One :class:`RestDownstream` (with its own retries and circuit breaker) per distinct URL.
    """

    def __init__(self, routes: DownstreamRoutes, **rest_options: Any) -> None:
        self.routes = routes
        self._clients = {url: RestDownstream(url, **rest_options) for url in routes.urls()}

    def send(self, job: InterventionJob) -> DownstreamResult:
        """Send ``job`` to the URL of ``job.agent``."""
        url = self.routes.url_for(job.agent)
        if url is None:
            return DownstreamResult(status="failed", detail=f"no URL for agent {job.agent!r}")
        return self._clients[url].send(job)

    def close(self) -> None:
        """Close every HTTP connection pool."""
        for client in self._clients.values():
            client.close()
