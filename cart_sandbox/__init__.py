"""A local Cart.com (AmeriCommerce) REST API v1 sandbox for testing the source-cart connector.

HTTPS only (trustme CA), token and Central API Router auth, paging, filters, sorting, rate
limits, deterministic fault injection and a control API under ``/__sandbox/``. The connector
never imports this package; tests and the demo do, through ``cart_sandbox.harness.Sandbox``.
"""

__version__ = "0.1.0"

__all__ = ["Sandbox", "ControlClient", "__version__"]


def __getattr__(name):
    if name in ("Sandbox", "ControlClient"):
        from . import harness

        return getattr(harness, name)
    raise AttributeError(name)
