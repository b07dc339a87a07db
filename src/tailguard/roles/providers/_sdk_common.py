"""What the SDK-backed providers share: setup (price check, API key, output cap) and errors.

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

from tailguard.roles.providers.base import ProviderAuthError, ProviderError, error_for_status
from tailguard.roles.providers.prices import PriceTable, load_prices


class SdkProvider:
    """Base of the SDK providers: the ``<vendor>:<model>`` name, prices, key and output cap.

    Subclasses set :attr:`vendor` and :attr:`key_env`, call :meth:`_setup` first in their
    constructor, and build their SDK client with :attr:`_api_key`.
    """

    vendor: ClassVar[str]
    key_env: ClassVar[str]

    _model: str
    _prices: PriceTable
    _api_key: str
    _max_tokens: int

    def _setup(
        self, model: str, *, api_key: str | None, max_tokens: int, prices: PriceTable | None
    ) -> None:
        """Check the model has a price and a key is known (argument, then environment).

        Raises:
            InvalidInputError: the model has no price in the table.
            ProviderAuthError: no API key was given and ``$<key_env>`` is unset.
        """
        self._model = model
        self._prices = prices or load_prices()
        self._prices.require(self.name)
        key = api_key or os.environ.get(self.key_env)
        if not key:
            raise ProviderAuthError(f"{self.key_env} is not set", provider=self.vendor, status=None)
        self._api_key = key
        self._max_tokens = max_tokens

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
