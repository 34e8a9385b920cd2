"""Filters: every operator, AND/OR, several fields, instants across offsets and fraction lengths."""

import pytest

from sandbox_helpers import instant

# Instants around a DST change (2030-03-10, 2:00 local in America/Chicago), written with
# different offsets and fraction lengths. Far from the generated data (2022-2025).
STAMPS = [
    "2030-03-10T01:59:59.9999999-06:00",  # a: 07:59:59.9999999Z
    "2030-03-10T03:00:00-05:00",  # b: 08:00:00Z
    "2030-03-10T08:00:00.0000001Z",  # c: 08:00:00.0000001Z
    "2030-03-10T09:00:00.5+01:00",  # d: 08:00:00.5Z
    "2030-03-10T02:00:00.50-06:00",  # e: 08:00:00.5Z (same instant as d)
    "",  # f
    None,  # g
]
SINCE_2030 = "gte:2030-01-01T00:00:00Z"


@pytest.fixture
def stamped(sb):
    """Insert products a..g with the stamps above; returns {letter: id}."""
    out = sb.control.insert("products", records=[{"updated_at": s} for s in STAMPS])
    return dict(zip("abcdefg", [o["id"] for o in out]))


def ids(api, resource, params, key=None):
    body = api.ok(resource, dict(params, count=1000))
    return sorted(r["id"] for r in body[key or resource])


def letters(stamped, found):
    inv = {v: k for k, v in stamped.items()}
    return "".join(sorted(inv[i] for i in found if i in inv))


@pytest.mark.parametrize("expr,expected", [
    ("gte:2030-03-10T08:00:00Z", "bcde"),
    ("gt:2030-03-10T08:00:00Z", "cde"),
    ("gt:2030-03-10T02:00:00-06:00", "cde"),  # same instant written as local winter time
    ("gt:2030-03-10T09:00:00+01:00", "cde"),  # '+' offset (sent encoded as %2B)
    ("gte:2030-03-10T08:00:00.0000001Z", "cde"),  # 7th fraction digit counts
    ("gt:2030-03-10T07:59:59.9999999Z", "bcde"),
    ("lt:2030-03-10T08:00:00.0000001Z AND " + SINCE_2030, "ab"),
    ("lte:2030-03-10T01:59:59.9999999-06:00 AND " + SINCE_2030, "a"),
    ("eq:2030-03-10T08:00:00.5Z", "de"),
    ("2030-03-10T08:00:00.500Z", "de"),  # eq is the default operator
    ("eq:2030-03-10T03:00:00.5-05:00", "de"),
    ("not:2030-03-10T08:00:00.5Z AND " + SINCE_2030, "abc"),  # null and "" never match
    ("lt:2030-03-10T08:00:00Z OR gt:2030-03-10T08:00:00.1Z", "ade"),
    ("eq:2030-03-10T08:00:00Z OR eq:2030-03-10T07:59:59.9999999Z", "ab"),
    ("eq:", "fg"),  # empty value: null or ""
    ("eq:null", "fg"),
])
def test_datetime_instants(api, stamped, expr, expected):
    found = ids(api, "products", {"updated_at": expr})
    assert letters(stamped, found) == expected


def test_null_and_empty_never_match_a_comparison(api, sb, stamped):
    truth = sb.control.records("products", fields=["id", "updated_at"])
    with_value = sorted(r["id"] for r in truth if r["updated_at"])
    assert ids(api, "products", {"updated_at": "gt:1900-01-01T00:00:00Z"}) == with_value
    assert ids(api, "products", {"updated_at": "lt:2100-01-01T00:00:00Z"}) == with_value
    blank = sorted(r["id"] for r in truth if not r["updated_at"])
    assert ids(api, "products", {"updated_at": "eq:"}) == blank


def test_raw_query_encodings_of_and(api, stamped):
    base = api.url("products", "store")
    h = {"X-AC-Auth-Token": api.sb.token}
    expected = {stamped["a"], stamped["b"]}
    for query in (
        "updated_at=gte:2030-01-01T00:00:00Z+AND+lte:2030-03-10T08:00:00Z",
        "updated_at=gte%3A2030-01-01T00%3A00%3A00Z%20AND%20lte%3A2030-03-10T08%3A00%3A00Z",
        "updated_at=gte:2030-01-01T00:00:00Z%20AND%20lt:2030-03-10T03:00:00.0000001-05:00",
    ):
        r = api.s.get(f"{base}?{query}", headers=h)
        assert r.status_code == 200, r.text
        assert {p["id"] for p in r.json()["products"]} == expected


def test_unencoded_plus_in_an_offset_is_rejected(api, stamped):
    # '+' means a space in a query string: a connector must send %2B
    r = api.s.get(api.url("products") + "?updated_at=gt:2030-03-10T09:00:00+01:00",
                  headers={"X-AC-Auth-Token": api.sb.token})
    assert r.status_code == 400 and r.json()["status_code"] == 400


def test_numbers_compare_numerically(api, sb):
    truth = sb.control.records("orders", fields=["id", "grand_total", "order_status_id"])
    cases = {
        "gt:100": lambda v: v > 100, "gte:99.5": lambda v: v >= 99.5, "lt:50": lambda v: v < 50,
        "lte:1000.00": lambda v: v <= 1000, "not:0": lambda v: v != 0,
        "gte:100 AND lt:300": lambda v: 100 <= v < 300,
        "lt:40 OR gt:900": lambda v: v < 40 or v > 900,
    }
    for expr, pred in cases.items():
        expected = sorted(o["id"] for o in truth if pred(o["grand_total"]))
        assert ids(api, "orders", {"grand_total": expr}) == expected, expr
    one = truth[3]["grand_total"]
    assert ids(api, "orders", {"grand_total": f"eq:{one}"}) == sorted(
        o["id"] for o in truth if o["grand_total"] == one)
    # different fields are ANDed
    expected = sorted(o["id"] for o in truth if o["grand_total"] > 100 and o["order_status_id"] == 6)
    assert ids(api, "orders", {"grand_total": "gt:100", "order_status_id": "6"}) == expected


def test_strings_like_startwith_eq(api, sb):
    truth = sb.control.records("customers", fields=["id", "last_name", "email"])
    name = truth[0]["last_name"]
    assert ids(api, "customers", {"last_name": name.upper()}) == sorted(
        c["id"] for c in truth if c["last_name"] == name)
    assert ids(api, "customers", {"last_name": "not:" + name}) == sorted(
        c["id"] for c in truth if c["last_name"] != name)
    assert ids(api, "customers", {"email": "like:example.org"}) == sorted(
        c["id"] for c in truth if "example.org" in c["email"])
    assert ids(api, "customers", {"email": "like:%.org"}) == sorted(
        c["id"] for c in truth if c["email"].endswith(".org"))
    prefix = truth[1]["email"][:3]
    assert ids(api, "customers", {"email": "startwith:" + prefix}) == sorted(
        c["id"] for c in truth if c["email"].startswith(prefix))
    assert ids(api, "customers", {"last_name": f"eq:{truth[0]['last_name']} OR eq:{truth[1]['last_name']}"}) == sorted(
        c["id"] for c in truth if c["last_name"] in (truth[0]["last_name"], truth[1]["last_name"]))
    assert ids(api, "customers", {"last_name": "gte:S"}) == sorted(
        c["id"] for c in truth if c["last_name"].lower() >= "s")


def test_bad_filters_are_400(api):
    for params in ({"no_such_field": "1"}, {"updated_at": "gte:yesterday"},
                   {"grand_total": "gt:lots"}, {"sort": "no_such_field"}):
        r = api.get("orders", params)
        assert r.status_code == 400, params
        assert r.json()["message"] == "Bad Request"


def test_instant_parser_of_the_tests_agrees(stamped):
    a, fa = instant(STAMPS[0])
    b, fb = instant(STAMPS[1])
    assert (a, fa) < (b, fb)
