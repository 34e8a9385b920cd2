"""Airbyte source connector for Cart.com (formerly AmeriCommerce)."""

from source_cart.lean_start import import_cdk_models

import_cdk_models()  # first: before anything else imports the CDK

from source_cart.source import SourceCart  # noqa: E402 - after the lean import on purpose

__all__ = ["SourceCart"]
