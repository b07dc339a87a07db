"""The HTTP service: the ``/v1`` API, API keys and roles, metrics, and the dashboards' routers.

>>> from tailguard.service import ServiceSettings, create_app
>>> app = create_app(ServiceSettings(ledger_url="sqlite:///ledger.db"))
"""

from tailguard.service.app import create_app, include_optional_routers
from tailguard.service.auth import KeyStore, Principal, Role, require_role
from tailguard.service.settings import ServiceSettings, ServiceState

__all__ = [
    "KeyStore",
    "Principal",
    "Role",
    "ServiceSettings",
    "ServiceState",
    "create_app",
    "include_optional_routers",
    "require_role",
]
