"""Airbyte source connector for Cart.com (formerly AmeriCommerce)."""

from source_cart.source import SourceCart

__all__ = ["SourceCart"]
