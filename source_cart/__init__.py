"""Airbyte source connector for Cart.com (formerly AmeriCommerce)."""

from source_cart.lean_start import garbage_collection_paused, import_cdk_models

with garbage_collection_paused():
    import_cdk_models()  # first: before anything else imports the CDK
    from source_cart.source import SourceCart

__all__ = ["SourceCart"]
