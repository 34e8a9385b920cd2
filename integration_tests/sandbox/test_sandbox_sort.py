"""Sorting: ascending/descending, several keys, stable ties, nulls first."""

from sandbox_helpers import instant


def test_sort_updated_at_both_directions(api, sb):
    truth = sb.control.records("order_items", fields=["id", "updated_at"])
    # null and "" first ascending (null before ""), ties by id
    def key(r):
        v = r["updated_at"]
        k = (0 if v is None else 1 if v == "" else 2,)
        return k + ((instant(v)) if v else ()) + (r["id"],)
    asc = [r["id"] for r in sorted(truth, key=key)]
    got = [r["id"] for r in api.all("order_items", {"sort": "updated_at"})]
    assert got == asc
    # descending: the groups reversed, ties still by id ascending
    def dkey(r):
        v = r["updated_at"]
        k = (0 if v is None else 1 if v == "" else 2,)
        return k + ((instant(v)) if v else ())
    groups = {}
    for r in truth:
        groups.setdefault(dkey(r), []).append(r["id"])
    desc = [i for k in sorted(groups, reverse=True) for i in sorted(groups[k])]
    got = [r["id"] for r in api.all("order_items", {"sort": "-updated_at"})]
    assert got == desc


def test_sort_with_filter_and_pages(api, sb):
    truth = sb.control.records("orders", fields=["id", "updated_at"])
    lo = instant("2024-01-01T00:00:00Z")
    keep = [r for r in truth if r["updated_at"] and instant(r["updated_at"]) >= lo]
    expected = [r["id"] for r in sorted(keep, key=lambda r: (instant(r["updated_at"]), r["id"]))]
    got = []
    page = 1
    while True:
        body = api.ok("orders", {"updated_at": "gte:2024-01-01T00:00:00Z", "sort": "updated_at,id",
                                 "count": 7, "page": page})
        got += [o["id"] for o in body["orders"]]
        if "next_page" not in body:
            break
        page += 1
    assert got == expected


def test_multiple_keys(api, sb):
    truth = sb.control.records("orders", fields=["id", "order_status_id", "grand_total"])
    expected = [r["id"] for r in sorted(truth, key=lambda r: (r["order_status_id"], -r["grand_total"], r["id"]))]
    got = [o["id"] for o in api.all("orders", {"sort": "order_status_id,-grand_total"})]
    assert got == expected
    expected = [r["id"] for r in sorted(truth, key=lambda r: (r["order_status_id"], -r["id"]))]
    got = [o["id"] for o in api.all("orders", {"sort": "order_status_id,-id"})]
    assert got == expected


def test_string_sort_is_case_insensitive_and_stable(api, sb):
    truth = sb.control.records("customers", fields=["id", "last_name"])
    expected = [r["id"] for r in sorted(truth, key=lambda r: (r["last_name"].lower(), r["id"]))]
    assert [c["id"] for c in api.all("customers", {"sort": "last_name"})] == expected
