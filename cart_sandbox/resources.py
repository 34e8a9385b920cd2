"""The registry of served resources: URL path -> record key, generator and token scope.

Adding a resource is one line. Without a hand-written generator, ``generic()`` fills every
field of the model named in ``_schemas.SCHEMAS`` (field names from the API's OpenAPI file)::

    R("order_shipments", "shipments", generic("order_shipments", parent="orders", fanout=(0, 1, 1, 2)), "read_orders"),
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import (
    AddressesGen,
    CustomersGen,
    Generator,
    OrderAddressesGen,
    OrderItemsGen,
    OrderPaymentsGen,
    OrderStatusesGen,
    OrdersGen,
    ProductsGen,
    generic,
)


@dataclass(frozen=True)
class Resource:
    path: str  # /api/v1/{path}
    key: str  # record key of the list envelope
    generator: type[Generator]
    scope: str  # token scope needed to read it


R = Resource

REGISTRY: dict[str, Resource] = {
    r.path: r
    for r in (
        # the seven resources of the earlier connector
        R("customers", "customers", CustomersGen, "read_people"),
        R("orders", "orders", OrdersGen, "read_orders"),
        R("order_items", "items", OrderItemsGen, "read_orders"),
        R("order_payments", "payments", OrderPaymentsGen, "read_orders"),
        R("order_statuses", "order_statuses", OrderStatusesGen, "read_orders"),
        R("products", "products", ProductsGen, "read_catalog"),
        R("addresses", "addresses", AddressesGen, "read_people"),
        # more resources, one line each
        R("order_addresses", "addresses", OrderAddressesGen, "read_orders"),
        R("order_shipments", "shipments", generic("order_shipments", parent="orders", parent_field="order_id", fanout=(0, 1, 1, 1, 2), id_start=900001), "read_orders"),
        R("product_variants", "variants", generic("product_variants", parent="products", parent_field="product_id", fanout=(0, 0, 2, 3), id_start=40001), "read_catalog"),
        R("product_pictures", "pictures", generic("product_pictures", parent="products", parent_field="product_id", fanout=(1, 1, 2, 3), id_start=60001), "read_catalog"),
        R("manufacturers", "manufacturers", generic("manufacturers", count=25), "read_catalog"),
        R("categories", "categories", generic("categories", count=30), "read_catalog"),
        R("stores", "stores", generic("stores", count=1), "system"),
        # people
        R("customer_types", "customer_types", generic("customer_types", count=4), "read_people"),
        R("users", "users", generic("users", count=12), "read_people"),
        R("profiles", "profiles", generic("profiles", count=20), "read_people"),
        # orders
        R("quotes", "quotes", generic("quotes", count=40), "read_orders"),
        R("subscriptions", "subscriptions", generic("subscriptions", count=30), "read_orders"),
        R("carts", "carts", generic("carts", count=60), "read_orders"),
        R("cart_items", "cart_items", generic("cart_items", parent="carts", parent_field="cart_id", fanout=(1, 1, 2, 3), id_start=70001), "read_orders"),
        # catalog
        R("variant_inventory", "variant_inventory", generic("variant_inventory", parent="products", parent_field="product_id", fanout=(0, 1, 2), id_start=80001), "read_catalog"),
        R("variant_groups", "variant_groups", generic("variant_groups", count=8), "read_catalog"),
        R("product_statuses", "product_statuses", generic("product_statuses", count=5), "read_catalog"),
        R("product_reviews", "product_reviews", generic("product_reviews", parent="products", parent_field="product_id", fanout=(0, 0, 1, 2), id_start=90001), "read_catalog"),
        R("product_pricing", "product_pricing", generic("product_pricing", parent="products", parent_field="product_id", fanout=(0, 1), id_start=95001), "read_catalog"),
        R("attributes", "attributes", generic("attributes", count=15), "read_catalog"),
        R("attribute_groups", "attribute_groups", generic("attribute_groups", count=5), "read_catalog"),
        # marketing
        R("adcodes", "adcodes", generic("adcodes", count=10), "read_marketing"),
        R("coupon_codes", "coupon_codes", generic("coupon_codes", count=35), "read_marketing"),
        R("discount_methods", "discount_methods", generic("discount_methods", count=6), "read_marketing"),
        R("discount_rules", "discount_rules", generic("discount_rules", count=9), "read_marketing"),
        R("gift_certificates", "gift_certificates", generic("gift_certificates", count=25), "read_marketing"),
        R("gift_certificate_transactions", "gift_certificate_transactions", generic("gift_certificate_transactions", parent="gift_certificates", parent_field="gift_certificate_id", fanout=(0, 1, 2), id_start=5001), "read_marketing"),
        R("mailing_lists", "mailing_lists", generic("mailing_lists", count=4), "read_marketing"),
        R("email_templates", "email_templates", generic("email_templates", count=14), "read_marketing"),
        # settings
        R("payment_methods", "payment_methods", generic("payment_methods", count=6), "settings"),
        R("warehouses", "warehouses", generic("warehouses", count=3), "settings"),
        R("regions", "regions", generic("regions", count=7), "settings"),
        R("tax_rates", "tax_rates", generic("tax_rates", count=12), "settings"),
        R("shipping_providers", "shipping_providers", generic("shipping_providers", count=4), "settings"),
        R("custom_shipping_methods", "custom_shipping_methods", generic("custom_shipping_methods", count=5), "settings"),
        R("store_locations", "store_locations", generic("store_locations", count=3), "settings"),
        # system
        R("microstores", "microstores", generic("microstores", count=2), "system"),
        # content
        R("pages", "pages", generic("pages", count=18), "read_content"),
        R("blogs", "blogs", generic("blogs", count=2), "read_content"),
        R("blog_posts", "blog_posts", generic("blog_posts", parent="blogs", parent_field="blog_id", fanout=(3, 5, 8), id_start=3001), "read_content"),
        R("blog_categories", "blog_categories", generic("blog_categories", count=6), "read_content"),
        # tools
        R("custom_fields", "custom_fields", generic("custom_fields", count=8), "custom_fields"),
        R("custom_field_values", "custom_field_values", generic("custom_field_values", parent="custom_fields", parent_field="custom_field_id", fanout=(2, 5, 9), id_start=7001), "custom_fields"),
    )
}

# The scopes of a full-access token.
ALL_SCOPES = tuple(sorted({r.scope for r in REGISTRY.values()}))


def generator_classes() -> dict[str, type[Generator]]:
    return {path: res.generator for path, res in REGISTRY.items()}
