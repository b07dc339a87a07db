"""What the SDK-backed providers share: the constructor (price, API key, client) and errors.

The ``anthropic`` and ``openai`` SDKs raise the same three error classes under the same
names (``APIStatusError``, ``APIConnectionError``, ``APIResponseValidationError``), so one
context manager maps both onto the typed :class:`ProviderError` tree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, ClassVar

import httpx2

from tailguard.roles.providers.base import ProviderAuthError, ProviderError, error_for_status
from tailguard.roles.providers.prices import PriceTable, load_prices


class SdkProvider:
    """Base of the SDK providers: the constructor, the ``<vendor>:<model>`` name and prices.

    Subclasses set :attr:`vendor` and :attr:`key_env` and build their SDK client in
    :meth:`_connect`.

    Args:
        model: the model id (it must have a price in ``prices``).
        api_key: defaults to ``$<key_env>``.
        http_client: an ``httpx2.Client`` for the SDK (tests pass one with a mock transport).
        max_retries: the SDK's own retries on 408/409/429/5xx; 0 turns them off.
        max_tokens: the cap on output tokens per call.
        timeout: seconds per request.
        prices: the price table (default: :func:`load_prices`).

    Raises:
        InvalidInputError: the model has no price in the table.
        ProviderAuthError: no API key was given and ``$<key_env>`` is unset.
    """

    vendor: ClassVar[str]
    key_env: ClassVar[str]

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        http_client: httpx2.Client | None = None,
        max_retries: int = 2,
        max_tokens: int = 1024,
        timeout: float = 30.0,
        prices: PriceTable | None = None,
    ) -> None:
        self._model = model
        self._prices = prices or load_prices()
        self._prices.require(self.name)
        key = api_key or os.environ.get(self.key_env)
        if not key:
            raise ProviderAuthError(f"{self.key_env} is not set", provider=self.vendor, status=None)
        self._max_tokens = max_tokens
        self._client = self._connect(
            api_key=key, http_client=http_client, max_retries=max_retries, timeout=timeout
        )

    def _connect(
        self, *, api_key: str, http_client: httpx2.Client | None, max_retries: int, timeout: float
    ) -> Any:
        """The vendor SDK's client."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """``<vendor>:<model>``, e.g. ``anthropic:claude-haiku-4-5``."""
        return f"{self.vendor}:{self._model}"


@contextmanager
def sdk_errors(sdk: ModuleType, vendor: str, error_text: Callable[[Any], str]) -> Iterator[None]:
    """Turn the SDK ``sdk``'s errors raised in the block into typed :class:`ProviderError` s.

    Args:
        sdk: the SDK module (``anthropic`` or ``openai``).
        vendor: the provider name put in messages and on the errors.
        error_text: the readable text of an ``APIStatusError`` (each API words its body
            differently).
    """
    try:
        yield
    except sdk.APIStatusError as exc:
        raise error_for_status(
            exc.status_code, f"{vendor}: {error_text(exc)}", provider=vendor
        ) from None
    except sdk.APIConnectionError as exc:
        raise error_for_status(None, f"{vendor}: {exc}", provider=vendor) from None
    except sdk.APIResponseValidationError as exc:
        raise ProviderError(f"{vendor}: unexpected response: {exc}", provider=vendor) from None
