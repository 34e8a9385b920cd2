"""Airbyte source connector for Cart.com (formerly AmeriCommerce).

The connector is `manifest.yaml` plus its `components.py`; `run.py` launches them as the
`source-cart` command.
"""
