"""``make demo`` / ``python -m cart_sandbox.demo``: a whole Cart.com sync on this machine.

1. starts the sandbox (a local Cart.com over TLS) in a subprocess;
2. syncs every stream of ``source-cart`` into a local DuckDB database through PyAirbyte;
3. changes orders and products through the sandbox's control API and syncs again, incrementally
   (PyAirbyte keeps the connector's state in the same database);
4. prints the records read per stream in both syncs and a small report queried with SQL.

It needs the ``demo`` extra (``pip install -e ".[demo]"``, which brings PyAirbyte) and no
internet. The database is ``.cache/demo/cart_demo.duckdb`` in the checkout (or in the current
directory when the package does not run from a checkout); every run starts it afresh.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path

# The sandbox's data: fixed seed, a year of orders, a catalog large enough for a top 5.
SANDBOX_OPTIONS = dict(size="small", seed=7, orders=600, customers=200, products=60,
                       start="2024-07-01T00:00:00Z", end="2025-06-30T00:00:00Z", rate_limit=0)
# Early enough for every generated record (settings records predate the first order).
START_DATE = "2015-01-01T00:00:00Z"
# The sandbox's clock for the changes made between the two syncs: just after its data ends, so
# the report is the same on every run.
CHANGE_TIME = "2025-07-01T15:30:00Z"
COMPLETED = 6  # order status "Completed" in the sandbox


_T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"==> [{time.monotonic() - _T0:5.1f} s] {msg}", flush=True)


def table(headers: list[str], rows: list[list], right: set[int] = frozenset()) -> str:
    """Rows as aligned text columns; the columns in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    return "\n".join([fmt(cells[0]), "  ".join("-" * w for w in widths)]
                     + [fmt(r) for r in cells[1:]])


def _project_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def _interrupt(signum, frame):
    # Ctrl-C, SIGTERM and SIGHUP unwind the stack, so the sandbox is stopped on the way out.
    # Libraries may wrap the KeyboardInterrupt (DuckDB raises "Query interrupted"), hence the
    # record of the signal.
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


class _QuietStdout:
    """Drops PyAirbyte's repeated "Could not determine airbyte type" prints.

    PyAirbyte prints that line (through rich, one write per message) each time it types a column
    whose JSON schema is a union such as ``["null", "integer", "string"]``, thousands of times
    per sync; such columns are stored as VARCHAR, which is what the demo wants anyway.
    """

    PREFIX = "Could not determine airbyte type"

    def __init__(self, stream):
        self._stream = stream
        self.dropped = 0

    def write(self, text: str) -> int:
        if text.lstrip().startswith(self.PREFIX):
            self.dropped += 1
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress in order with stderr, also when piped
    for sig in _SIGNALS:
        signal.signal(sig, _interrupt)

    root = _project_dir() / ".cache" / "demo"
    db_path = root / "cart_demo.duckdb"
    # A fresh database each run: the connector's state lives in it, and a state left from an
    # earlier run would make the first sync incremental.
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    # Read by PyAirbyte at import: no registry download, no telemetry, plain progress lines (no
    # live view), its files and logs next to the database.
    os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("NO_LIVE_PROGRESS", "1")
    os.environ["AIRBYTE_CACHE_ROOT"] = str(root)
    os.environ["AIRBYTE_LOGGING_ROOT"] = str(root / "logs")

    from cart_sandbox.harness import Sandbox

    sb = Sandbox(mode="subprocess", **SANDBOX_OPTIONS)
    try:
        o = SANDBOX_OPTIONS
        say(f"starting the sandbox store (seed {o['seed']}: {o['orders']} orders, "
            f"{o['customers']} customers, {o['products']} products)")
        sb.start()
        os.environ.update(sb.env())  # the connector subprocess inherits HTTPS_PROXY + CA bundle
        say(f"sandbox up: https://{sb.store_domain} (process {sb.pid})")
        return run(sb, db_path)
    except BaseException:
        if not _received:
            raise
        print(f"\ninterrupted by {signal.Signals(_received[0]).name}", file=sys.stderr, flush=True)
        return 128 + _received[0]
    finally:
        for sig in _SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        sb.stop()
        say("sandbox stopped")


def run(sb, db_path: Path) -> int:
    say("loading PyAirbyte")
    warnings.filterwarnings("ignore", message="You are using a Python version",
                            category=FutureWarning)  # Google client libraries, via PyAirbyte
    import airbyte as ab
    from airbyte.caches import DuckDBCache

    config = {
        "credentials": {"auth_type": "SINGLE_STORE_ACCESS_TOKEN", "access_token": sb.token,
                        "store_name": sb.store_domain},
        "start_date": START_DATE,
    }
    executable = Path(sys.executable).parent / "source-cart"
    source = ab.get_source("source-cart", config=config, local_executable=executable)
    say("checking the connection")
    source.check()
    source.select_all_streams()
    streams = sorted(source.get_selected_streams())
    modes = {s.name: "incremental" if "incremental" in [m.value for m in s.supported_sync_modes]
             else "full refresh" for s in source.discovered_catalog.streams}
    cache = DuckDBCache(db_path=db_path, cache_dir=db_path.parent / "files")

    say(f"sync 1: all {len(streams)} streams into DuckDB")
    r1 = read(source, cache)
    counts1 = stream_counts(r1, streams)
    say(f"sync 1 done: {r1.processed_records:,} records")

    say(f"changing data in the sandbox at {CHANGE_TIME}: 12 orders completed, "
        "4 product prices +10 %, 5 new orders with 2 items each")
    changes = change_data(sb.control)

    say("sync 2: the same streams, incremental from the state saved by sync 1")
    r2 = read(source, cache)
    counts2 = stream_counts(r2, streams)
    say(f"sync 2 done: {r2.processed_records:,} records")

    print()
    print("Records read per stream")
    rows = [[s, modes.get(s, "?"), counts1[s], counts2[s]] for s in streams]
    rows.append(["total", "", sum(counts1.values()), sum(counts2.values())])
    print(table(["stream", "mode", "sync 1", "sync 2"], rows, right={2, 3}))

    inc = [s for s in streams if modes.get(s) == "incremental"]
    full = [s for s in streams if modes.get(s) != "incremental"]
    print()
    print(f"Sync 2 read {sum(counts2[s] for s in inc):,} of the {sum(counts1[s] for s in inc):,} "
          f"records of the {len(inc)} incremental streams: the {changes['total']} changed "
          f"records ({changes['summary']}) plus, per stream, the records at the saved state (the "
          f"lower bound is inclusive); the {len(full)} full-refresh streams were read whole "
          f"again ({sum(counts2[s] for s in full)} records).")
    not_incremental = [s for s in inc if counts1[s] > 1 and counts2[s] >= counts1[s]]
    if not_incremental:
        print(f"WARNING: not incremental in sync 2: {', '.join(not_incremental)}")

    print()
    report(cache)
    print()
    print(f"DuckDB database: {db_path}")
    print(f"Done in {time.monotonic() - _T0:.0f} s.")
    return 1 if not_incremental else 0


def read(source, cache):
    quiet = _QuietStdout(sys.stdout)
    saved, sys.stdout = sys.stdout, quiet
    try:
        return source.read(cache=cache)
    finally:
        sys.stdout = saved


def stream_counts(result, streams: list[str]) -> dict[str, int]:
    """Records read per stream, as PyAirbyte's progress tracker of that read counted them."""
    tracker = getattr(result, "_progress_tracker", None)  # PyAirbyte 0.71: no public per-stream count
    counts = dict(getattr(tracker, "stream_read_counts", None) or {})
    return {s: int(counts.get(s, 0)) for s in streams}


# -- sandbox data ---------------------------------------------------------------------------------

def change_data(control) -> dict:
    """Updates and inserts between the syncs, all stamped CHANGE_TIME."""
    control.set_clock(now=CHANGE_TIME)
    completed = control.update("orders", random=12, fields={"order_status_id": COMPLETED})
    products = control.records("products", fields=["id", "price"], limit=10**9)
    raised = []
    for p in products[::15][:4]:
        raised += control.update("products", ids=[p["id"]],
                                 fields={"price": round(float(p["price"]) * 1.10, 2)})
    price = {p["id"]: float(p["price"]) for p in products}
    ids = sorted(price)
    new_orders, new_items = [], []
    for n in range(5):
        lines = [(ids[(7 * n + 3) % len(ids)], 1 + n % 3), (ids[(11 * n + 5) % len(ids)], 1)]
        subtotal = round(sum(price[pid] * qty for pid, qty in lines), 2)
        order = control.insert("orders", records=[{
            "order_status_id": 1, "subtotal": subtotal, "tax_total": 0.0, "shipping_total": 0.0,
            "discount_total": 0.0, "handling_total": 0.0, "grand_total": subtotal}])[0]
        new_orders.append(order["id"])
        for pid, qty in lines:
            new_items += control.insert("order_items", records=[{
                "order_id": order["id"], "product_id": pid, "quantity": qty, "price": price[pid]}])
    control.set_clock(real=True)
    total = len(completed) + len(raised) + len(new_orders) + len(new_items)
    summary = (f"{len(completed) + len(new_orders)} orders, {len(raised)} products, "
               f"{len(new_items)} order items")
    return {"total": total, "summary": summary}


# -- report ---------------------------------------------------------------------------------------

MONTHS_SQL = """
    SELECT strftime(ordered_at, '%Y-%m') AS month, count(*) AS orders, sum(grand_total) AS revenue
    FROM orders
    WHERE ordered_at IS NOT NULL
    GROUP BY 1
    ORDER BY 1
"""
TOP_PRODUCTS_SQL = """
    SELECT p.id, p.item_name, sum(i.quantity) AS units, sum(i.quantity * i.price) AS revenue
    FROM order_items AS i
    JOIN products AS p ON p.id = i.product_id
    GROUP BY 1, 2
    ORDER BY revenue DESC, p.id
    LIMIT 5
"""


def report(cache) -> None:
    from sqlalchemy import text

    with cache.get_sql_engine().connect() as conn:
        months = conn.execute(text(MONTHS_SQL)).fetchall()
        top = conn.execute(text(TOP_PRODUCTS_SQL)).fetchall()
    # DuckDB keeps ordered_at as the store's local wall time (the offset is not stored), so the
    # months are the store's months.
    print("Revenue by month (sum of orders.grand_total by month of ordered_at, UTC)")
    print(table(["month", "orders", "revenue"],
                [[m, n, f"{rev:,.2f}"] for m, n, rev in months]
                + [["total", sum(r[1] for r in months), f"{sum(r[2] for r in months):,.2f}"]],
                right={1, 2}))
    print()
    print("Top 5 products by revenue (order_items joined to products)")
    print(table(["id", "product", "units", "revenue"],
                [[pid, name, units, f"{rev:,.2f}"] for pid, name, units, rev in top],
                right={0, 2, 3}))


if __name__ == "__main__":
    sys.exit(main())
