"""Deterministic, lazy generator of realistic Cart.com store data.

Every value is a pure function of the seed, the resource and the record's index, so the same
seed always gives the same store, whatever order the resources are read in.

Only the columns needed to filter and sort fast (``created_at`` and ``updated_at`` as ticks,
plus the parent -> children offsets of child resources) are computed for a whole resource, on
first use, in one sequential pass. Full records are built one at a time when a page is served.
A million orders take a few seconds and about 16 bytes per record.

Child resources point at real parents: order items and payments at orders (items also at
products), addresses at customers, orders at customers and order statuses. How many children a
parent has is a hash of the parent index, so an order can compute its totals from its items
without the items' columns being built.
"""

from __future__ import annotations

import random
import zlib
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Callable

from . import timeutil as tu
from ._schemas import SCHEMAS

M64 = (1 << 64) - 1
TPS = tu.TICKS_PER_SECOND
MINUTE = 60 * TPS
HOUR = 3600 * TPS
DAY = 86400 * TPS


def mix(x: int) -> int:
    """splitmix64 finaliser."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hsh(*parts: int) -> int:
    x = 0x2545F4914F6CDD1D
    for p in parts:
        x = mix(x ^ (p & M64))
    return x


def unit(x: int) -> float:
    """64-bit hash -> [0, 1)."""
    return (x >> 11) / 9007199254740992.0


def salt_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class Sizes:
    customers: int
    products: int
    orders: int


PRESETS: dict[str, Sizes] = {
    "tiny": Sizes(customers=8, products=6, orders=15),
    "small": Sizes(customers=60, products=40, orders=150),
    "medium": Sizes(customers=5_000, products=800, orders=20_000),
    "large": Sizes(customers=100_000, products=5_000, orders=1_000_000),
}


@dataclass
class GenConfig:
    seed: int = 1
    size: str = "small"
    customers: int | None = None
    products: int | None = None
    orders: int | None = None
    tz: str = "America/Chicago"
    start: str = "2022-07-01T00:00:00Z"
    end: str = "2025-06-30T00:00:00Z"
    # share of records whose updated_at is null or "" (half each)
    null_cursor_rate: float = 0.005
    # built-in bulk imports: clusters of records sharing one identical updated_at
    bulk: bool = True

    @property
    def sizes(self) -> Sizes:
        base = PRESETS[self.size]
        return Sizes(
            customers=max(1, self.customers if self.customers is not None else base.customers),
            products=max(1, self.products if self.products is not None else base.products),
            orders=max(0, self.orders if self.orders is not None else base.orders),
        )

    @property
    def start_ticks(self) -> int:
        return tu.parse(self.start)

    @property
    def end_ticks(self) -> int:
        return tu.parse(self.end)

    def with_changes(self, **changes) -> "GenConfig":
        return replace(self, **{k: v for k, v in changes.items() if k in self.__dataclass_fields__})


# ----------------------------------------------------------------------------------------------
# vocabulary

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul "
    "Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy "
    "Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Dorothy Jacob Amy "
    "Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Larry Emma Justin Anna Scott "
    "Pamela Brandon Nicole Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra "
    "Frank Rachel Patrick Carolyn Raymond Janet Jack Maria Dennis Olivia Jerry Heather Tyler "
    "Helen Aaron Catherine José Zoë Chloé Renée"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook "
    "Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward "
    "Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez "
    "Castillo Sanders Patel Myers Long Ross Foster O'Brien Müller"
).split()
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "shop.example")
COMPANIES = (
    "Acme Supply", "Globex", "Initech", "Umbrella Retail", "Stark Outfitters", "Wayne Goods",
    "Hooli", "Vandelay Industries", "Soylent Foods", "Tyrell Home", "Cyberdyne Tools",
)
STREETS = (
    "Main St", "Oak Ave", "Pine St", "Maple Ave", "Cedar Ln", "Elm St", "Washington Blvd",
    "Lakeview Dr", "Hillcrest Rd", "Sunset Blvd", "Park Pl", "River Rd", "Church St",
    "Highland Ave", "Mill Rd", "Forest Dr", "Meadow Ln", "Congress Ave", "Commerce St",
)
# (city, state code, zip prefix, area code, tax rate %)
CITIES = (
    ("Austin", "TX", "787", "512", 8.25), ("Dallas", "TX", "752", "214", 8.25),
    ("Houston", "TX", "770", "713", 8.25), ("Chicago", "IL", "606", "312", 10.25),
    ("Springfield", "IL", "627", "217", 8.75), ("New York", "NY", "100", "212", 8.875),
    ("Buffalo", "NY", "142", "716", 8.75), ("Los Angeles", "CA", "900", "213", 9.5),
    ("San Diego", "CA", "921", "619", 7.75), ("Seattle", "WA", "981", "206", 10.25),
    ("Portland", "OR", "972", "503", 0.0), ("Denver", "CO", "802", "303", 8.81),
    ("Miami", "FL", "331", "305", 7.0), ("Orlando", "FL", "328", "407", 6.5),
    ("Atlanta", "GA", "303", "404", 8.9), ("Boston", "MA", "021", "617", 6.25),
    ("Phoenix", "AZ", "850", "602", 8.6), ("Nashville", "TN", "372", "615", 9.25),
    ("Billings", "MT", "591", "406", 0.0), ("Minneapolis", "MN", "554", "612", 8.03),
)
ADJECTIVES = (
    "Classic", "Premium", "Deluxe", "Everyday", "Organic", "Vintage", "Rugged", "Compact",
    "Ultra", "Essential", "Heritage", "Modern", "Artisan", "Pro", "Eco", "Smart",
)
MATERIALS = (
    "Cotton", "Leather", "Bamboo", "Steel", "Ceramic", "Wool", "Canvas", "Walnut", "Copper",
    "Linen", "Glass", "Aluminum",
)
NOUNS = (
    "T-Shirt", "Backpack", "Water Bottle", "Coffee Mug", "Throw Blanket", "Desk Lamp", "Notebook",
    "Cutting Board", "Tote Bag", "Phone Case", "Wallet", "Candle", "Scarf", "Sneakers",
    "Headphones", "Plant Pot", "Cookware Set", "Yoga Mat", "Sunglasses", "Watch",
)
PRICE_POINTS = (499, 899, 999, 1299, 1499, 1999, 2499, 2999, 3499, 3999, 4999, 5999, 7999,
                9999, 12999, 14999, 19999, 24999, 29999, 49999)
SHIP_METHODS = (("UPS Ground", "UPS"), ("UPS 2nd Day Air", "UPS"), ("FedEx Home Delivery", "FedEx"),
                ("USPS Priority Mail", "USPS"), ("Free Shipping", "Store"), ("Local Pickup", "Store"))
CARD_TYPES = ("Visa", "MasterCard", "American Express", "Discover")
SOURCES = ("Web", "Web", "Web", "Phone", "Import", "Admin", "Amazon")
REFERRERS = ("", "", "https://www.google.com/", "https://www.bing.com/", "https://www.facebook.com/",
             "https://duckduckgo.com/", "https://newsletter.example.com/")

# Digits of fraction kept on a generated timestamp (trailing zeros are trimmed on output).
_DIGIT_CDF = ((0.10, 0), (0.18, 1), (0.28, 2), (0.55, 3), (0.60, 4), (0.65, 5), (0.72, 6), (1.01, 7))


def _digits(u: float) -> int:
    for p, d in _DIGIT_CDF:
        if u < p:
            return d
    return 7


def _ri(r: random.Random, a: int, b: int) -> int:
    """Uniform integer in [a, b] (faster than Random.randint)."""
    return a + int(r.random() * (b - a + 1))


def _ch(r: random.Random, seq):
    return seq[int(r.random() * len(seq))]


def _pick(seq, x: int):
    return seq[x % len(seq)]


def money(cents: int) -> float:
    return round(cents / 100.0, 2)


# ----------------------------------------------------------------------------------------------
# schema-driven templates and field kinds

DATE_NAMES = {"eta_date", "due_date", "delivery_date", "ext_update_date", "expiration_date",
              "start_date", "end_date", "shipped_date", "last_used_date"}


def field_kinds(model: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Field -> kind used by the query engine: dt, num, str, bool, list, obj."""
    kinds: dict[str, str] = {}
    for name, typ in SCHEMAS.get(model, {}).items():
        if typ in ("integer", "number"):
            kind = "num"
        elif typ == "boolean":
            kind = "bool"
        elif typ == "array":
            kind = "list"
        elif typ == "object":
            kind = "obj"
        else:
            kind = "str"
        if kind == "str" and (name.endswith("_at") or name in DATE_NAMES):
            kind = "dt"
        kinds[name] = kind
    kinds.setdefault("id", "num")
    if overrides:
        kinds.update(overrides)
    return kinds


def template(model: str, kinds: dict[str, str]) -> dict:
    rec: dict = {}
    for name, kind in kinds.items():
        if kind == "num":
            rec[name] = None if name.endswith("_id") else 0
        elif kind == "bool":
            rec[name] = False
        elif kind == "list":
            rec[name] = []
        elif kind == "obj":
            rec[name] = None
        elif kind == "dt":
            rec[name] = None
        else:
            rec[name] = ""
    return rec


# ----------------------------------------------------------------------------------------------
# columns


@dataclass
class Columns:
    n: int
    id_start: int
    created: array  # ticks ('q'), never null
    updated: array  # ticks ('q'), NULL_TICKS / EMPTY_TICKS for null / ""
    prefix: array | None = None  # children: prefix[p] = index of parent p's first child

    def parent_of(self, idx: int) -> int:
        assert self.prefix is not None
        return bisect_right(self.prefix, idx) - 1


class Generator:
    """One resource. Subclasses set the class attributes and override ``fill``."""

    path: str = ""
    model: str = ""
    id_start: int = 1
    parent: str | None = None  # path of the parent resource
    parent_field: str | None = None  # field holding the parent's id
    bulk_fraction: float = 0.0  # share of records in the built-in bulk import
    bulk_position: float = 0.8  # where in the time span the bulk import happened
    follow_parent: float = 0.5  # children: share whose updated_at equals the parent's
    child_delay: tuple[int, int] = (0, 2 * MINUTE)  # children: created this long after parent
    kind_overrides: dict[str, str] = {}

    def __init__(self, ds: "Dataset"):
        self.ds = ds
        self.cfg = ds.cfg
        self.seed = ds.cfg.seed
        self.salt = salt_of(self.path)
        self.kinds = field_kinds(self.model, self.kind_overrides)
        self.template = template(self.model, self.kinds)
        self.tz = ds.cfg.tz
        self.has_created = "created_at" in self.kinds
        self.has_updated = "updated_at" in self.kinds
        self.start_ticks = ds.start_ticks
        self._rng_seed = hsh(self.seed, self.salt, 3)
        self.end_ticks = ds.end_ticks

    # -- sizes ------------------------------------------------------------------------------
    def count(self) -> int:  # top-level resources
        return 0

    def fanout(self, parent_idx: int) -> int:  # child resources
        return 1

    # -- columns ----------------------------------------------------------------------------
    def build(self) -> Columns:
        if self.parent:
            return self._build_children()
        return self._build_top(self.count())

    def _bulk_ticks(self) -> int:
        start, end = self.start_ticks, self.end_ticks
        t = start + int((end - start) * self.bulk_position)
        # a round-ish time of day plus milliseconds, like a real import job
        t = t - t % HOUR + 17 * MINUTE + (hsh(self.seed, self.salt, 99) % 1000) * 10_000
        return t

    def _build_top(self, n: int) -> Columns:
        cfg = self.cfg
        start, end = self.start_ticks, self.end_ticks
        span = end - start
        rnd = random.Random(hsh(self.seed, self.salt, 1)).random
        created = array("q", bytes(8 * n))
        updated = array("q", bytes(8 * n))
        bulk_at = self._bulk_ticks()
        bulk_fraction = self.bulk_fraction if cfg.bulk else 0.0
        null_rate = cfg.null_cursor_rate
        half_null = null_rate / 2
        trunc = tu.truncate
        digits = _digits
        for i in range(n):
            u1, u2, u3, u4, u5, u6, u7 = rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd()
            c = trunc(start + int((i + u1) * span / n), digits(u2))
            if u3 < 0.55:
                up = c + int(u4 * 5 * MINUTE)
            elif u3 < 0.9:
                up = c + int(u4 * u4 * 120 * DAY)
            else:
                up = c + int(u4 * (end - c))
            if up > end:
                up = c + int((end - c) * u4)
            up = trunc(up, digits(u5))
            if up < c:
                up = c
            if u6 < bulk_fraction and c < bulk_at:
                up = bulk_at
            if u7 < null_rate:
                up = tu.NULL_TICKS if u7 < half_null else tu.EMPTY_TICKS
            created[i] = c
            updated[i] = up
        return Columns(n=n, id_start=self.id_start, created=created, updated=updated)

    def _build_children(self) -> Columns:
        cfg = self.cfg
        end = self.end_ticks
        pcols = self.ds.columns(self.parent)
        rnd = random.Random(hsh(self.seed, self.salt, 2)).random
        np_ = pcols.n
        prefix = array("q", bytes(8 * (np_ + 1)))
        created = array("q")
        updated = array("q")
        cappend, uappend = created.append, updated.append
        follow = self.follow_parent
        d_lo, d_hi = self.child_delay
        null_rate = cfg.null_cursor_rate
        half_null = null_rate / 2
        bulk_fraction = self.bulk_fraction if cfg.bulk else 0.0
        bulk_at = self._bulk_ticks()
        trunc = tu.truncate
        digits = _digits
        valid_min = tu.VALID_MIN
        total = 0
        fanout = self.fanout
        for p in range(np_):
            prefix[p] = total
            k = fanout(p)
            pc = pcols.created[p]
            pu = pcols.updated[p]
            for j in range(k):
                u1, u2, u3, u4, u5, u6, u7 = rnd(), rnd(), rnd(), rnd(), rnd(), rnd(), rnd()
                c = trunc(pc + d_lo + int(u1 * (d_hi - d_lo)) + j * 10_000, digits(u2))
                if u3 < follow and pu > valid_min and pu >= c:
                    up = pu
                else:
                    if u3 < follow + (1 - follow) * 0.6:
                        up = c + int(u4 * 3 * MINUTE)
                    else:
                        up = c + int(u4 * u4 * 60 * DAY)
                    if up > end:
                        up = c + int((end - c) * u4) if end > c else c
                    up = trunc(up, digits(u5))
                    if up < c:
                        up = c
                if u6 < bulk_fraction and c < bulk_at:
                    up = bulk_at
                if u7 < null_rate:
                    up = tu.NULL_TICKS if u7 < half_null else tu.EMPTY_TICKS
                cappend(c)
                uappend(up)
            total += k
        prefix[np_] = total
        return Columns(n=total, id_start=self.id_start, created=created, updated=updated,
                       prefix=prefix)

    def fast_column(self, field: str) -> list | None:
        """Query keys of ``field`` for every generated record, when cheaper than building records.

        The parent id of child resources is read off the offsets. Subclasses add more.
        """
        if self.parent and field == self.parent_field:
            prefix = self.ds.columns(self.path).prefix
            pid0 = self.ds.columns(self.parent).id_start
            out: list = []
            for p in range(len(prefix) - 1):
                k = prefix[p + 1] - prefix[p]
                if k:
                    out.extend([float(pid0 + p)] * k)
            return out
        return None

    # -- records ----------------------------------------------------------------------------
    def rng(self, idx: int) -> random.Random:
        return random.Random(mix(self._rng_seed ^ idx))

    def make(self, idx: int) -> dict:
        cols = self.ds.columns(self.path)
        rec = dict(self.template)
        rec["id"] = cols.id_start + idx
        if self.has_created:
            rec["created_at"] = tu.render(cols.created[idx], self.tz)
        if self.has_updated:
            rec["updated_at"] = tu.render(cols.updated[idx], self.tz)
        parent_idx = None
        if self.parent:
            parent_idx = cols.parent_of(idx)
            if self.parent_field:
                rec[self.parent_field] = self.ds.columns(self.parent).id_start + parent_idx
        self.fill(rec, idx, self.rng(idx), cols, parent_idx)
        return rec

    def fill(self, rec: dict, idx: int, r: random.Random, cols: Columns, parent_idx: int | None):
        generic_fill(self, rec, r, cols, idx)

    # helpers
    def render(self, ticks: int) -> str | None:
        return tu.render(ticks, self.tz)

    def maybe_date(self, r: random.Random, lo: int, hi: int, p_empty=0.15, p_null=0.1):
        """A local timestamp between lo and hi ticks, or "" / None."""
        u = r.random()
        if u < p_empty:
            return ""
        if u < p_empty + p_null:
            return None
        t = lo + int(r.random() * max(0, hi - lo))
        return self.render(tu.truncate(t, _digits(r.random())))


# ----------------------------------------------------------------------------------------------
# shared cheap facts (pure functions of seed + index), used across resources


class Facts:
    """Cheap per-index facts shared by several resources (cached where they repeat)."""

    def __init__(self, ds: "Dataset"):
        self.seed = ds.cfg.seed
        self.sizes = ds.cfg.sizes
        self._customers: dict[int, tuple] = {}
        self._products: list[tuple] | None = None
        self._orders: dict[int, dict] = {}
        self._order_seed = hsh(self.seed, 31)
        self._last_oi, self._last_oh = -1, 0

    # customers
    def _customer(self, ci: int) -> tuple:
        c = self._customers.get(ci)
        if c is None:
            x = hsh(self.seed, 11, ci)
            first = FIRST[x % len(FIRST)]
            last = LAST[(x >> 20) % len(LAST)]
            city = CITIES[(x >> 30) % len(CITIES)]
            local = f"{first}.{last}".lower().replace("'", "")
            email = f"{local}{ci + 1}@{EMAIL_DOMAINS[(x >> 40) % len(EMAIL_DOMAINS)]}"
            n_addr = (x >> 50) % 100
            n_addr = 0 if n_addr < 10 else 1 if n_addr < 65 else 2 if n_addr < 90 else 3
            c = (first, last, city, email, n_addr)
            if len(self._customers) > 200_000:
                self._customers.clear()
            self._customers[ci] = c
        return c

    def customer_name(self, ci: int) -> tuple[str, str]:
        c = self._customer(ci)
        return c[0], c[1]

    def customer_city(self, ci: int):
        return self._customer(ci)[2]

    def customer_email(self, ci: int) -> str:
        return self._customer(ci)[3]

    def address_count(self, ci: int) -> int:
        return self._customer(ci)[4]

    # products: (name, sku, price cents, cost cents, weight)
    def _product(self, pi: int) -> tuple:
        if self._products is None:
            rows = []
            for i in range(self.sizes.products):
                x = hsh(self.seed, 21, i)
                noun = NOUNS[(x >> 16) % len(NOUNS)]
                name = f"{ADJECTIVES[x % len(ADJECTIVES)]} {MATERIALS[(x >> 8) % len(MATERIALS)]} {noun}"
                sku = f"{noun[:3].upper()}-{i + 1:05d}-{(x >> 24) % 90 + 10}"
                price = PRICE_POINTS[(x >> 32) % len(PRICE_POINTS)]
                cost = int(price * (0.3 + ((x >> 40) % 40) / 100.0))
                weight = round(0.1 + ((x >> 48) % 2000) / 100.0, 2)
                rows.append((name, sku, price, cost, weight))
            self._products = rows
        return self._products[pi]

    def product_name(self, pi: int) -> str:
        return self._product(pi)[0]

    def product_sku(self, pi: int) -> str:
        return self._product(pi)[1]

    def product_price_cents(self, pi: int) -> int:
        return self._product(pi)[2]

    def product_cost_cents(self, pi: int) -> int:
        return self._product(pi)[3]

    def product_weight(self, pi: int) -> float:
        return self._product(pi)[4]

    # orders
    def _order_hash(self, oi: int) -> int:
        if oi == self._last_oi:
            return self._last_oh
        h = mix(self._order_seed ^ oi)
        self._last_oi, self._last_oh = oi, h
        return h

    def order_customer(self, oi: int) -> int:
        nc, no = self.sizes.customers, max(1, self.sizes.orders)
        upper = max(1, min(nc, int(nc * (oi + 1) / no) + 1))
        return self._order_hash(oi) % upper

    def item_count(self, oi: int) -> int:
        u = (self._order_hash(oi) >> 20) % 100
        return 1 if u < 40 else 2 if u < 65 else 3 if u < 80 else 4 if u < 90 else 5 if u < 95 else 6 + u % 3

    def payment_count(self, oi: int) -> int:
        u = (self._order_hash(oi) >> 28) % 100
        return 0 if u < 3 else 1 if u < 93 else 2

    def item_core(self, oi: int, j: int) -> tuple[int, int]:
        """(product index, quantity) of order oi's j-th item."""
        x = mix(self._order_hash(oi) ^ (0x51ED27 + j))
        u = unit(x)
        pi = int(self.sizes.products * u * u)
        q = (x >> 7) % 100
        qty = 1 if q < 70 else 2 if q < 90 else 3 if q < 96 else 4 if q < 99 else 5
        return pi, qty

    def order_status(self, oi: int, age_days: float) -> int:
        u = (self._order_hash(oi) >> 36) % 1000
        if age_days < 3:
            table = ((300, 1), (500, 2), (750, 3), (850, 5), (900, 11), (950, 8), (1000, 4))
        elif age_days < 30:
            table = ((50, 1), (100, 3), (400, 4), (800, 6), (850, 7), (900, 8), (950, 11), (1000, 5))
        else:
            table = ((550, 6), (800, 4), (860, 7), (900, 8), (930, 9), (950, 10), (960, 11),
                     (970, 12), (1000, 5))
        for bound, sid in table:
            if u < bound:
                return sid
        return 6

    def order_totals(self, oi: int) -> dict:
        t = self._orders.get(oi)
        if t is not None:
            return t
        ci = self.order_customer(oi)
        city = self.customer_city(ci)
        subtotal = 0
        cost = 0
        for j in range(self.item_count(oi)):
            pi, qty = self.item_core(oi, j)
            _, _, price, pcost, _ = self._product(pi)
            subtotal += price * qty
            cost += pcost * qty
        x = mix(self._order_hash(oi) ^ 0x7077A1)
        discount = subtotal * (5 + x % 16) // 100 if x % 100 < 20 else 0
        ship_method = SHIP_METHODS[(x >> 8) % len(SHIP_METHODS)]
        if ship_method[0] in ("Free Shipping", "Local Pickup") or subtotal - discount >= 7500:
            shipping = 0
        else:
            shipping = (599, 899, 1250, 1599)[(x >> 16) % 4]
        tax = int(round((subtotal - discount) * city[4] / 100.0))
        handling = 0 if (x >> 24) % 10 else 250
        grand = subtotal - discount + shipping + tax + handling
        t = {"subtotal": subtotal, "discount": discount, "shipping": shipping, "tax": tax,
             "handling": handling, "grand": grand, "cost": cost, "ship_method": ship_method,
             "customer": ci, "city": city}
        if len(self._orders) > 4096:
            self._orders.clear()
        self._orders[oi] = t
        return t


# ----------------------------------------------------------------------------------------------
# the seven synced resources


class CustomersGen(Generator):
    path = model = "customers"
    id_start = 1001
    bulk_fraction = 0.05
    bulk_position = 0.35

    def count(self) -> int:
        return self.cfg.sizes.customers

    def fill(self, rec, idx, r, cols, parent_idx):
        f = self.ds.facts
        first, last = f.customer_name(idx)
        city = f.customer_city(idx)
        email = f.customer_email(idx)
        no_account = r.random() < 0.15
        company = _ch(r, COMPANIES) if r.random() < 0.2 else ""
        created = cols.created[idx]
        upd = cols.updated[idx]
        visit_hi = max(created, upd if tu.is_valid(upd) else created)
        rec.update(
            customer_number=f"C{rec['id']:07d}",
            first_name=first,
            last_name=last,
            email=email,
            phone_number=f"({city[3]}) 555-{_ri(r, 100, 9999):04d}",
            registered_at="" if no_account else rec["created_at"],
            last_visit_at=self.maybe_date(r, created, visit_hi, 0.1, 0.1),
            adcode="",
            adcode_id=0,
            affiliate_id=0,
            customer_type_id=_ch(r, (0, 0, 0, 1, 2)),
            is_no_tax_customer=r.random() < 0.03,
            comments="" if r.random() < 0.9 else "Prefers phone contact.",
            store_id=1,
            source=_ch(r, SOURCES),
            search_string=f"{first} {last} {email}".lower(),
            no_account=no_account,
            sales_person="",
            alternate_phone_number="",
            is_affiliate_customer=False,
            username="" if no_account else email,
            is_contact_information_only=False,
            tax_exemption_number="",
            company=company,
            source_group="",
            sales_person_user_id=None,
            store_payment_methods_enabled=[],
            tax_rate=0.0,
            lock_default_address=False,
            reward_tier_id=None,
            payment_net_term=0,
            credit_limit=0.0,
            is_inactive=r.random() < 0.02,
            use_shared_credit_limit=False,
            override_shared_credit_limit=False,
            customer_payment_methods_availability=[],
            default_payment_type_name="",
        )


class ProductsGen(Generator):
    path = model = "products"
    id_start = 1
    bulk_fraction = 0.25
    bulk_position = 0.6
    kind_overrides = {"height": "str", "length": "str", "width": "str"}

    def count(self) -> int:
        return self.cfg.sizes.products

    def fill(self, rec, idx, r, cols, parent_idx):
        f = self.ds.facts
        name = f.product_name(idx)
        price = f.product_price_cents(idx)

        def dim():
            return "" if r.random() < 0.25 else f"{_ri(r, 1, 40)}" + _ch(r, ("", ".5", ".25", ".00"))

        words = name.split()
        rec.update(
            item_number=f.product_sku(idx),
            manufacturer_id=_ri(r, 1, 25),
            manufacturer_part_number=f"MPN{_ri(r, 10000, 99999)}",
            primary_category_id=_ri(r, 1, 30),
            product_status_id=_ch(r, (1, 1, 1, 1, 2, 3)),
            item_name=name,
            short_description=f"The {name.lower()} you will reach for every day.",
            long_description_1=f"<p>Our {name} is made to last.</p>",
            height=dim(),
            length=dim(),
            width=dim(),
            size_unit="in",
            weight=f.product_weight(idx),
            weight_unit="lbs",
            cost=money(f.product_cost_cents(idx)),
            price=money(price),
            retail=money(int(price * 1.25)),
            minimum_quantity=0,
            maximum_quantity=0,
            quantity_on_hand=_ri(r, 0, 500),
            keywords=", ".join(w.lower() for w in words),
            is_hidden=1 if r.random() < 0.05 else 0,
            sort_order=idx,
            warehouse_id=1,
            meta_description=name,
            page_title=f"{name} | Demo Store",
            url_rewrite="/" + name.lower().replace(" ", "-"),
            is_featured_item=r.random() < 0.1,
            is_discontinued=r.random() < 0.05,
            eta_date=self.maybe_date(r, cols.created[idx], self.end_ticks, 0.6, 0.3),
            tax_code="P0000000" if r.random() < 0.5 else "",
            average_review_rating=round(r.uniform(2.5, 5.0), 1) if r.random() < 0.6 else 0.0,
            review_count=_ri(r, 0, 120),
            gtin=f"{_ri(r, 10**11, 10**12 - 1)}",
            cart_product_id="%08x-%04x-%04x-%04x-%012x" % (
                r.getrandbits(32), r.getrandbits(16), 0x4000 | r.getrandbits(12),
                0x8000 | r.getrandbits(14), r.getrandbits(48)),
            ext_update_date=self.maybe_date(r, cols.created[idx], self.end_ticks, 0.5, 0.3),
            category_list=",".join(str(_ri(r, 1, 30)) for _ in range(_ri(r, 1, 3))),
            variants=[],
        )


class OrderStatusesGen(Generator):
    path = model = "order_statuses"
    id_start = 1
    STATUSES = (
        # name, open, declined, cancelled, shipped, color, fully refunded, partially refunded,
        # quote, partially shipped
        ("New", True, False, False, False, "#3A87AD", False, False, False, False),
        ("Pending", True, False, False, False, "#F89406", False, False, False, False),
        ("Processing", True, False, False, False, "#2D6987", False, False, False, False),
        ("Shipped", False, False, False, True, "#468847", False, False, False, False),
        ("Partially Shipped", True, False, False, False, "#5BB75B", False, False, False, True),
        ("Completed", False, False, False, True, "#333333", False, False, False, False),
        ("Cancelled", False, False, True, False, "#999999", False, False, False, False),
        ("Declined", False, True, False, False, "#B94A48", False, False, False, False),
        ("Refunded", False, False, False, False, "#8E44AD", True, False, False, False),
        ("Partially Refunded", False, False, False, False, "#9B59B6", False, True, False, False),
        ("Backordered", True, False, False, False, "#E67E22", False, False, False, False),
        ("Quote", True, False, False, False, "#1ABC9C", False, False, True, False),
    )

    def count(self) -> int:
        return len(self.STATUSES)

    def build(self) -> Columns:
        start = self.start_ticks
        n = len(self.STATUSES)
        base = start - 400 * DAY
        created = array("q", [tu.truncate(base + i * 13 * MINUTE + i * 1_234_567, i % 8) for i in range(n)])
        updated = array("q", created)
        # a few statuses edited later; two share one identical timestamp; one "" and one null
        edit = tu.truncate(start + 30 * DAY + 4 * HOUR, 3)
        updated[2] = edit
        updated[6] = edit
        updated[9] = tu.truncate(start + 200 * DAY + 7 * HOUR + 4_567_891, 7)
        updated[10] = tu.EMPTY_TICKS
        updated[11] = tu.NULL_TICKS
        return Columns(n=n, id_start=self.id_start, created=created, updated=updated)

    def fill(self, rec, idx, r, cols, parent_idx):
        (name, is_open, declined, cancelled, shipped, color, full_ref, part_ref, quote,
         part_ship) = self.STATUSES[idx]
        rec.update(name=name, is_open=is_open, is_declined=declined, is_cancelled=cancelled,
                   is_shipped=shipped, color=color, email_template_id=100 + idx if idx < 8 else None,
                   is_fully_refunded=full_ref, is_partially_refunded=part_ref,
                   is_quote_status=quote, is_partially_shipped=part_ship)


class OrdersGen(Generator):
    path = model = "orders"
    id_start = 100001
    bulk_fraction = 0.03
    bulk_position = 0.85

    def count(self) -> int:
        return self.cfg.sizes.orders

    def fast_column(self, field: str) -> list | None:
        f = self.ds.facts
        n = self.ds.columns(self.path).n
        if field == "customer_id":
            c0 = self.ds.columns("customers").id_start
            return [float(c0 + f.order_customer(i)) for i in range(n)]
        if field == "order_status_id":
            created, end = self.ds.columns(self.path).created, self.end_ticks
            return [float(f.order_status(i, (end - created[i]) / DAY)) for i in range(n)]
        return super().fast_column(field)

    def fill(self, rec, idx, r, cols, parent_idx):
        f = self.ds.facts
        t = f.order_totals(idx)
        ci = t["customer"]
        created = cols.created[idx]
        upd = cols.updated[idx]
        age_days = (self.end_ticks - created) / DAY
        status = f.order_status(idx, age_days)
        cust_ids = self.ds.columns("customers").id_start
        ship_method, provider = t["ship_method"]
        oa_start = OrderAddressesGen.id_start
        device = _ch(r, ("Desktop", "Desktop", "Mobile", "Mobile", "Tablet"))
        coupon = _ch(r, ("SAVE10", "WELCOME", "FREESHIP", "SPRING20")) if t["discount"] else ""
        last_change = rec["updated_at"] if tu.is_valid(upd) else rec["created_at"]
        rec.update(
            customer_id=cust_ids + ci,
            customer_type_id=0,
            adcode="",
            ordered_at=rec["created_at"],
            order_status_id=status,
            special_instructions="" if r.random() < 0.9 else "Leave at the back door.",
            subtotal=money(t["subtotal"]),
            tax_total=money(t["tax"]),
            shipping_total=money(t["shipping"]),
            discount_total=money(t["discount"]),
            grand_total=money(t["grand"]),
            cost_total=money(t["cost"]),
            selected_shipping_method=ship_method,
            ip_address=f"{_ri(r, 23, 223)}.{_ri(r, 0, 255)}.{_ri(r, 0, 255)}.{_ri(r, 1, 254)}",
            exported_to_accounting_system=0,
            referrer=_ch(r, REFERRERS),
            order_shipping_address_id=oa_start + idx,
            order_billing_address_id=oa_start + idx,
            admin_comments="",
            source=_ch(r, ("Web", "Web", "Web", "Phone", "Admin")),
            search_phrase="",
            is_ppc=False,
            ppc_keyword="",
            store_id=1,
            session_id=_ri(r, 1_000_000, 9_999_999),
            handling_total=money(t["handling"]),
            is_payment_order_only=False,
            selected_shipping_provider_service=f"{provider} {ship_method}" if provider != "Store" else "",
            additional_fees=0.0,
            adcode_id=None,
            is_gift=r.random() < 0.05,
            gift_message="",
            public_comments="",
            instructions="",
            source_group="",
            from_subscription_id=None,
            previous_order_status_id=_ch(r, (1, 2, 3)) if status not in (1,) else None,
            order_status_last_changed_at=last_change if r.random() < 0.85 else "",
            discounted_shipping_total=money(t["shipping"]),
            order_number=str(rec["id"]),
            coupon_code=coupon,
            order_type="Quote" if status == 12 else "Order",
            expires_at=None if r.random() < 0.7 else "",
            expires=False,
            from_quote_id=None,
            campaign_code="",
            reward_points_credited=r.random() < 0.3,
            sales_agent_user_id=None,
            channel=_ch(r, ("Online", "Online", "Online", "Online", "Phone", "Email", "InStore", "Chat")),
            device=device,
            manufacturer_invoice_number="",
            manufacturer_invoice_amount=0.0,
            manufacturer_invoice_paid=False,
            due_date=None if r.random() < 0.5 else "",
            delivery_tax=0.0,
            location_id=None,
            entered_by=f.customer_email(ci),
            entered_by_type="Customer",
        )


class OrderItemsGen(Generator):
    path = "order_items"
    model = "order_items"
    id_start = 500001
    parent = "orders"
    parent_field = "order_id"
    follow_parent = 0.5
    child_delay = (0, 2 * TPS)

    def fanout(self, parent_idx: int) -> int:
        return self.ds.facts.item_count(parent_idx)

    def fill(self, rec, idx, r, cols, oi):
        f = self.ds.facts
        j = idx - cols.prefix[oi]
        pi, qty = f.item_core(oi, j)
        price = f.product_price_cents(pi)
        city = f.customer_city(f.order_customer(oi))
        sku = f.product_sku(pi)
        rec.update(
            product_id=self.ds.columns("products").id_start + pi,
            item_number=sku,
            item_name=f.product_name(pi),
            price=money(price),
            cost=money(f.product_cost_cents(pi)),
            quantity=qty,
            is_discount_item=False,
            weight=f.product_weight(pi),
            is_taxable=True,
            weight_unit="lbs",
            is_non_shipping_item=False,
            variant_inventory_id=None,
            parent_order_item_id=None,
            is_quantity_bound_to_parent=False,
            height=float(_ri(r, 1, 30)),
            length=float(_ri(r, 1, 30)),
            width=float(_ri(r, 1, 30)),
            size_unit="in",
            tax_code="",
            item_number_full=sku,
            admin_comments="",
            do_not_discount=False,
            line_item_note="",
            order_shipping_address_id=OrderAddressesGen.id_start + oi,
            gift_message="",
            delivery_date=None if r.random() < 0.8 else "",
            discount_amount=0.0,
            discount_percentage=0.0,
            is_subscription_product=False,
            warehouse_id=1,
            description="",
            tax=money(int(round(price * qty * city[4] / 100.0))),
            configuration="",
            status=_ch(r, ("", "", "Shipped", "Backordered")),
            shipping_classification_code="",
            variants=[],
            personalizations=[],
        )


class OrderPaymentsGen(Generator):
    path = "order_payments"
    model = "order_payments"
    id_start = 300001
    parent = "orders"
    parent_field = "order_id"
    follow_parent = 0.4
    child_delay = (2 * TPS, 3 * MINUTE)

    def fanout(self, parent_idx: int) -> int:
        return self.ds.facts.payment_count(parent_idx)

    def fill(self, rec, idx, r, cols, oi):
        f = self.ds.facts
        t = f.order_totals(oi)
        ci = t["customer"]
        first, last = f.customer_name(ci)
        j = idx - cols.prefix[oi]
        n = f.payment_count(oi)
        declined = (n == 2 and j == 0) or (f.order_status(oi, 100) == 8 and r.random() < 0.5)
        method = r.random()
        created = cols.created[idx]
        if method < 0.85:
            ptype, mname, card = "CreditCard", "Credit Card", _ch(r, CARD_TYPES)
        elif method < 0.97:
            ptype, mname, card = "PayPal", "PayPal Express", ""
        else:
            ptype, mname, card = "GiftCertificate", "Gift Certificate", ""
        approved = not declined
        stamp = rec["created_at"]
        rec.update(
            customer_id=self.ds.columns("customers").id_start + ci,
            customer_payment_method_id=None,
            payment_method_id={"CreditCard": 1, "PayPal": 7, "GiftCertificate": 4}[ptype],
            payment_type=ptype,
            is_approved=approved,
            is_declined=declined,
            card_type=card,
            card_expiration_month=_ri(r, 1, 12) if card else 0,
            card_expiration_year=_ri(r, 2024, 2031) if card else 0,
            cardholder_name=f"{first} {last}" if card else "",
            paid_at=stamp if approved else "",
            approved_at=(stamp if r.random() < 0.9 else self.render(created + 3 * TPS)) if approved else None,
            authorization_code=f"{_ri(r, 0, 999999):06d}" if approved else "",
            reject_reason="" if approved else _ch(r, ("Insufficient funds", "Card declined", "AVS mismatch")),
            avs_code=_ch(r, ("Y", "Y", "Y", "A", "Z", "N")) if card else "",
            payment_method_name=mname,
            transaction_type=_ch(r, ("Sale", "Sale", "Authorize")),
            amount=money(t["grand"]),
            payment_note="",
            gift_certificate_id=_ri(r, 1, 500) if ptype == "GiftCertificate" else None,
            is_captured=approved,
            transaction_id=f"{r.getrandbits(40):010X}",
            last_four=f"{_ri(r, 0, 9999):04d}" if card else "",
            is_void=False,
            gateway_response_code="1" if approved else "2",
            cvv_response_code="M" if card else "",
            payment_ref_num=f"REF{_ri(r, 10**7, 10**8 - 1)}",
            store_payment_method_id=None,
        )


class AddressesGen(Generator):
    path = model = "addresses"
    id_start = 5001
    parent = "customers"
    parent_field = "customer_id"
    follow_parent = 0.35
    bulk_fraction = 0.0
    child_delay = (10 * TPS, 10 * DAY)

    def fanout(self, parent_idx: int) -> int:
        return self.ds.facts.address_count(parent_idx)

    def fill(self, rec, idx, r, cols, ci):
        f = self.ds.facts
        j = idx - cols.prefix[ci]
        first, last = f.customer_name(ci)
        city = f.customer_city(ci) if j == 0 or r.random() < 0.6 else _ch(r, CITIES)
        default = j == 0
        rec.update(
            address_line_1=f"{_ri(r, 100, 9999)} {_ch(r, STREETS)}",
            address_line_2="" if r.random() < 0.8 else f"Apt {_ri(r, 1, 400)}",
            city=city[0],
            state=city[1],
            postal_code=f"{city[2]}{_ri(r, 0, 99):02d}",
            country="US",
            is_default_shipping_address=default,
            phone=f"({city[3]}) 555-{_ri(r, 100, 9999):04d}",
            company="" if r.random() < 0.85 else _ch(r, COMPANIES),
            alternate_phone="",
            fax="",
            comments="",
            is_default_billing_address=default,
            first_name=first,
            last_name=last,
            address_type=_ch(r, ("Residential", "Residential", "Commercial")),
        )


class OrderAddressesGen(Generator):
    path = "order_addresses"
    model = "order_addresses"
    id_start = 700001
    parent = "orders"
    parent_field = None  # the model has no order_id; orders point at these ids
    follow_parent = 0.9
    child_delay = (0, TPS)
    kind_overrides = {"postal_code": "str"}

    def fanout(self, parent_idx: int) -> int:
        return 1

    def fill(self, rec, idx, r, cols, oi):
        f = self.ds.facts
        ci = f.order_customer(oi)
        first, last = f.customer_name(ci)
        city = f.customer_city(ci)
        rec.update(
            customer_id=self.ds.columns("customers").id_start + ci,
            company="",
            address_line_1=f"{_ri(r, 100, 9999)} {_ch(r, STREETS)}",
            address_line_2="",
            city=city[0],
            state=city[1],
            postal_code=f"{city[2]}{_ri(r, 0, 99):02d}",
            country="United States",
            phone=f"({city[3]}) 555-{_ri(r, 100, 9999):04d}",
            first_name=first,
            last_name=last,
            address_type="Residential",
            state_code=city[1],
            country_code="US",
        )


# ----------------------------------------------------------------------------------------------
# generic resources (schema-driven), so more resources are one registry line each


# A numeric field is a decimal amount when its name ends in one of these (grand_total,
# shipping_cost, tax_rate), and a whole number otherwise (total_orders, max_feed_elements).
_MONEY_WORDS = {"price", "cost", "total", "subtotal", "amount", "fee", "fees", "weight", "rate", "balance", "value"}


def generic_fill(gen: Generator, rec: dict, r: random.Random, cols: Columns, idx: int):
    created = cols.created[idx]
    for name, kind in gen.kinds.items():
        if name in ("id", "created_at", "updated_at") or name == gen.parent_field:
            continue
        if name.endswith(("_at", "date")) and kind in ("dt", "str"):
            kind = "dt"  # the OpenAPI file types some dates as plain strings
        if kind == "dt":
            rec[name] = gen.maybe_date(r, created, gen.end_ticks, 0.3, 0.3)
        elif kind == "bool":
            rec[name] = r.random() < 0.2
        elif kind == "num":
            if name.endswith("_id"):
                rec[name] = _ri(r, 1, 50) if r.random() < 0.7 else None
            elif name.split("_")[-1] in _MONEY_WORDS:
                rec[name] = round(r.uniform(0, 200), 2)
            else:
                rec[name] = _ri(r, 0, 100)
        elif kind == "str":
            if name in ("name", "title", "item_name", "shipment_name"):
                rec[name] = f"{_ch(r, ADJECTIVES)} {_ch(r, NOUNS)}"
            elif "email" in name:
                rec[name] = f"user{_ri(r, 1, 9999)}@{_ch(r, EMAIL_DOMAINS)}"
            elif "url" in name:
                rec[name] = f"https://demo-store.sandbox.test/{gen.path}/{rec['id']}"
            elif name.startswith("tracking"):
                rec[name] = f"1Z{r.getrandbits(60):015X}"
            elif r.random() < 0.6:
                rec[name] = ""
            else:
                rec[name] = f"{name.replace('_', ' ').title()} {_ri(r, 1, 999)}"


class GenericGen(Generator):
    top_count: Callable[[Sizes], int] = staticmethod(lambda s: 10)
    child_fanout: tuple[int, ...] = (1,)

    def count(self) -> int:
        return max(0, int(self.top_count(self.cfg.sizes)))

    def fanout(self, parent_idx: int) -> int:
        fan = self.child_fanout
        return fan[hsh(self.seed, self.salt, 5, parent_idx) % len(fan)]


def generic(path: str, model: str | None = None, *, count: Callable[[Sizes], int] | int = 10,
            parent: str | None = None, parent_field: str | None = None,
            fanout: tuple[int, ...] = (1,), id_start: int = 1) -> type[Generator]:
    """A schema-driven generator class for a resource nobody wrote a custom one for."""
    counter = count if callable(count) else (lambda s, _n=count: _n)
    return type(
        f"Generic_{path}", (GenericGen,),
        {"path": path, "model": model or path, "parent": parent, "parent_field": parent_field,
         "child_fanout": fanout, "top_count": staticmethod(counter), "id_start": id_start},
    )


# ----------------------------------------------------------------------------------------------
# dataset


@dataclass
class Dataset:
    cfg: GenConfig
    generator_classes: dict[str, type[Generator]]
    _gens: dict[str, Generator] = field(default_factory=dict)
    _cols: dict[str, Columns] = field(default_factory=dict)

    def __post_init__(self):
        self.start_ticks = self.cfg.start_ticks
        self.end_ticks = self.cfg.end_ticks
        self.facts = Facts(self)

    def gen(self, path: str) -> Generator:
        g = self._gens.get(path)
        if g is None:
            g = self._gens[path] = self.generator_classes[path](self)
        return g

    def columns(self, path: str) -> Columns:
        c = self._cols.get(path)
        if c is None:
            c = self._cols[path] = self.gen(path).build()
        return c

    def make(self, path: str, idx: int) -> dict:
        return self.gen(path).make(idx)
