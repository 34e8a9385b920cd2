#!/usr/bin/env python3
"""Benchmark: source-cart (this repo) against the earlier connector, airbyte-source-cart 0.3.58.

    make bench                              # zero latency, rate limit, 500 ms latency, 1M orders
    make bench BENCH_ARGS="--torture"       # also the fault torture (our connector only)
    make bench BENCH_ARGS="--no-million"    # skip the one-million-orders run (about 4 minutes)
    .venv/bin/python bench/bench.py --only zero,rate   # some parts only; --help lists them
    .venv/bin/python bench/bench.py --only resume      # kill at 2/3 and resume, both connectors (~1 min)

Both connectors run as subprocesses (`source-cart read`, full refresh of the earlier connector's
seven streams) against the bundled sandbox (cart_sandbox, subprocess mode), seeded identically
for both, through the Central API Router. Figures come from the child process (os.wait4: user+sys
CPU, max RSS) and from the sandbox's own request statistics. At the end a plain-text table is
printed and the figures are written as JSON to .cache/bench/latest.json.

The earlier connector lives in its own virtualenv, .cache/bench-venv-old/ (created on first
use, then reused), pinned to the same airbyte-cdk as ours so that only connector code differs.
Its single-store token auth cannot be benchmarked: on current CDKs it never sends the token
(the bench shows the sandbox's view of it), so both connectors use the router.

Speed is proven here, never by timed assertions in tests. Nothing in this script fails on a
figure; only the torture mode exits non-zero, when records are lost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cart_sandbox.harness import ENV_KEYS, Sandbox  # noqa: E402

OLD_REQUIREMENTS = ["airbyte-source-cart==0.3.58", "airbyte-cdk==7.39.1"]
OLD_VENV_DEFAULT = ROOT / ".cache" / "bench-venv-old"
OUT_DIR = ROOT / ".cache" / "bench"

# The earlier connector's seven streams, and the sandbox resource behind each.
STREAMS = {
    "customers_cart": "customers",
    "orders": "orders",
    "order_items": "order_items",
    "order_payments": "order_payments",
    "order_statuses": "order_statuses",
    "products": "products",
    "addresses": "addresses",
}
START_DATE = "2020-01-01T00:00:00Z"
PAGE_SIZE_ASKED = 1000  # ours by default, and the earlier connector's fixed `count`

# Data sets (the sandbox generates them lazily and deterministically from the seed).
SEED = 7
DATA_ZERO = dict(size="medium")  # ~100k records, ~105 pages of 1000
DATA_START = dict(size="tiny")  # ~100 records: a sync's CPU at start, for the zero-latency split
DATA_RATE = dict(size="small", orders=950, customers=350, products=120)  # ~5.3k records
# Rate-limit runs: each documented plan (calls per 10 s), with the page size the sandbox serves
# chosen so that every run needs about 55 seconds at its limit. The earlier connector runs at 10.
RATE_PLANS = {5: 200, 10: 100, 20: 50, 50: 20}
RATE_LIMIT = 10  # the plan both connectors run under
DATA_LATENCY = dict(size="medium")
LATENCY_MS = 500
# What a user with high latency and a generous limit sets (README): windows read in parallel.
LATENCY_TUNED = {"window_in_days": 365, "concurrency": 8}
DATA_MILLION = dict(size="small", orders=1_000_000, customers=1000, products=200)
DATA_TORTURE = dict(size="medium", orders=40_000, customers=10_000, products=1_600)  # ~200k
# Kill and resume: an incremental first sync of orders, SIGKILLed at two thirds, resumed from the
# last STATE it printed. No blank updated_at and no built-in bulk import, so every order has a
# place in the updated_at order and "read again" counts exactly what a resume repeats.
DATA_RESUME = dict(size="small", orders=30_000, null_cursor_rate=0.0, bulk=False)
RESUME_KILL_AT = 20_000
TORTURE_FAULTS = dict(rate=0.10, seed=11,
                      kinds=["500", "502", "503", "html_200", "html_502", "truncated", "cut_json", "drop"])


# ------------------------------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def fmt(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:  # nan
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    return str(v)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


# ------------------------------------------------------------------------------------------------
# virtualenvs


def ensure_old_venv(path: Path) -> Path:
    """The earlier connector's virtualenv (created once, reused while its marker matches)."""
    marker = path / ".bench-requirements"
    exe = path / "bin" / "source-cart"
    wanted = "\n".join(OLD_REQUIREMENTS)
    if exe.exists() and marker.exists() and marker.read_text() == wanted:
        return exe
    log(f"creating the earlier connector's virtualenv in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
        f" ({' '.join(OLD_REQUIREMENTS)})")
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip_log = path.parent / "bench-venv-old-pip.log"
    with open(pip_log, "w") as fh:
        done = subprocess.run(pip + OLD_REQUIREMENTS, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"pip install {' '.join(OLD_REQUIREMENTS)} failed: see {pip_log}")
    if not exe.exists():
        raise SystemExit(f"{exe} missing after installing {OLD_REQUIREMENTS}")
    marker.write_text(wanted)
    return exe


# ------------------------------------------------------------------------------------------------
# running a connector


class Run:
    """One `read` of a connector, with the child's resource usage and what it emitted."""

    def __init__(self, label: str):
        self.label = label
        self.wall = 0.0
        self.user = 0.0
        self.sys = 0.0
        self.maxrss_mb = 0.0
        self.exit_code: int | None = None
        self.killed = False
        self.records: dict[str, int] = {}
        self.ids: dict[str, set] = {}
        self.states: dict[str, dict] = {}  # last STATE message per stream
        self.state_counts: dict[str, int] = {}  # STATE messages per stream
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.stats: dict = {}

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    def summary(self) -> dict:
        return {"wall_s": round(self.wall, 3), "user_s": round(self.user, 3), "sys_s": round(self.sys, 3),
                "cpu_s": round(self.cpu, 3), "max_rss_mb": round(self.maxrss_mb, 1),
                "exit_code": self.exit_code, "killed": self.killed, "records": self.total_records,
                "records_by_stream": dict(self.records), "errors": self.errors[:5],
                "requests": self.stats.get("requests_total"), "by_status": self.stats.get("by_status"),
                "rate_limited": self.stats.get("rate_limited"), "faults": self.stats.get("faults")}


def connector_env(sb: Sandbox) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(sb.env())
    env.pop("PYTHONUNBUFFERED", None)  # both connectors write stdout as they would in production
    return env


def router_config(sb: Sandbox, **extra) -> dict:
    return {"credentials": {"auth_type": "CENTRAL_API_ROUTER", "user_name": sb.router_user,
                            "user_secret": sb.router_secret, "site_id": str(sb.site_id)},
            "start_date": START_DATE, **extra}


def token_config(sb: Sandbox) -> dict:
    return {"credentials": {"auth_type": "SINGLE_STORE_ACCESS_TOKEN", "access_token": sb.token,
                            "store_name": sb.store_domain}, "start_date": START_DATE}


def discover(exe: Path, sb: Sandbox, config: dict, folder: Path) -> dict:
    """`exe discover` with `config` (written to folder/config.json) against the sandbox."""
    config_path = folder / "config.json"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config))
    p = subprocess.run([str(exe), "discover", "--config", str(config_path)], env=connector_env(sb),
                       capture_output=True, text=True, timeout=300)
    for line in p.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "CATALOG":
            return msg["catalog"]
    raise RuntimeError(f"{exe} discover gave no catalog (exit {p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}")


def configured_catalog(catalog: dict, streams: list[str], incremental: bool = False) -> dict:
    by_name = {s["name"]: s for s in catalog["streams"]}
    missing = [n for n in streams if n not in by_name]
    if missing:
        raise RuntimeError(f"streams missing from the catalog: {missing}")
    out = []
    for name in streams:
        s = by_name[name]
        if incremental and "incremental" in s.get("supported_sync_modes", []):
            out.append({"stream": s, "sync_mode": "incremental", "cursor_field": ["updated_at"],
                        "destination_sync_mode": "append_dedup", "primary_key": [["id"]]})
        else:
            out.append({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
    return {"streams": out}


def run_read(label: str, exe: Path, work: Path, sb: Sandbox, config: dict, catalog: dict,
             state: list | None = None, kill_after_records: int | None = None,
             keep_ids: bool = True, timeout: float = 3600) -> Run:
    """Run `exe read` as a child process; its stdout goes to a file (never a pipe, so a slow
    reader cannot throttle it). With kill_after_records, SIGKILL it once that many RECORD
    lines are out."""
    work.mkdir(parents=True, exist_ok=True)
    cfg_path, cat_path, state_path = work / "config.json", work / "catalog.json", work / "state.json"
    out_path, err_path = work / "stdout.jsonl", work / "stderr.txt"
    cfg_path.write_text(json.dumps(config))
    cat_path.write_text(json.dumps(catalog))
    cmd = [str(exe), "read", "--config", str(cfg_path), "--catalog", str(cat_path)]
    if state is not None:
        state_path.write_text(json.dumps(state))
        cmd += ["--state", str(state_path)]
    sb.control.clear_stats()
    run = Run(label)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=connector_env(sb), cwd=str(work))
        if kill_after_records:
            seen, pos, partial = 0, 0, b""
            with open(out_path, "rb") as tail:
                while proc.poll() is None:
                    tail.seek(pos)
                    chunk = tail.read()
                    pos += len(chunk)
                    data = partial + chunk
                    lines = data.split(b"\n")
                    partial = lines.pop()
                    seen += sum(1 for ln in lines if ln.startswith(b'{"type":"RECORD"'))
                    if seen >= kill_after_records:
                        os.kill(proc.pid, signal.SIGKILL)
                        run.killed = True
                        break
                    time.sleep(0.05)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                run.errors.append(f"timed out after {timeout:.0f} s")
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        run.wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    run.exit_code = proc.returncode
    run.user, run.sys = usage.ru_utime, usage.ru_stime
    run.maxrss_mb = usage.ru_maxrss / 1024.0  # KiB on Linux
    run.stats = sb.control.stats(log=True)
    parse_output(run, out_path, keep_ids)
    if run.exit_code not in (0, None) and not run.killed:
        tail = err_path.read_text(errors="replace")[-1500:]
        if tail.strip():
            run.errors.append("stderr: " + tail.strip())
    # Outputs can be hundreds of MB: keep only the last one of each kind for inspection.
    out_path.unlink(missing_ok=True)
    return run


def parse_output(run: Run, out_path: Path, keep_ids: bool) -> None:
    records: dict[str, int] = {}
    ids: dict[str, set] = {}
    with open(out_path, "rb") as fh:
        for line in fh:
            if line.startswith(b'{"type":"RECORD"') and not keep_ids:
                # Count without decoding the whole record: the stream name is near the start.
                i = line.find(b'"stream":"')
                j = line.find(b'"', i + 10)
                name = line[i + 10:j].decode()
                records[name] = records.get(name, 0) + 1
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "RECORD":
                rec = msg["record"]
                name = rec["stream"]
                records[name] = records.get(name, 0) + 1
                ids.setdefault(name, set()).add(rec["data"].get("id"))
            elif kind == "STATE":
                st = msg["state"]
                desc = (st.get("stream") or {}).get("stream_descriptor") or {}
                run.states[desc.get("name", "?")] = st
                run.state_counts[desc.get("name", "?")] = run.state_counts.get(desc.get("name", "?"), 0) + 1
            elif kind == "TRACE" and (msg["trace"].get("type") == "ERROR"):
                err = msg["trace"].get("error") or {}
                run.errors.append(str(err.get("message"))[:400])
            elif kind == "LOG":
                lv = msg["log"].get("level")
                if lv in ("ERROR", "FATAL"):
                    run.errors.append(str(msg["log"].get("message"))[:400])
                elif lv == "WARN":
                    run.warnings.append(str(msg["log"].get("message"))[:300])
    run.records, run.ids = records, ids


# ------------------------------------------------------------------------------------------------
# the sandbox


def start_sandbox(data: dict, **options) -> Sandbox:
    opts = {"seed": SEED, "rate_limit": 0, **data, **options}
    sb = Sandbox(mode="subprocess", **opts)
    sb.start()
    return sb


def truth(sb: Sandbox) -> dict[str, dict]:
    """Per stream: the sandbox's ids, and those whose updated_at is null or blank."""
    out = {}
    for stream, resource in STREAMS.items():
        recs = sb.control.records(resource, fields=["id", "updated_at"])
        out[stream] = {"ids": {r["id"] for r in recs},
                       "null_cursor": {r["id"] for r in recs if not r.get("updated_at")}}
    return out


def min_requests(counts: dict[str, int], served: int) -> int:
    return sum(max(1, ceil_div(n, served)) for n in counts.values())


def failed_requests(stats: dict) -> dict:
    return {k: v for k, v in (stats.get("by_status") or {}).items() if not k.startswith("2")}


def page_timing(stats: dict, latency_s: float) -> dict:
    """Per resource, from the sandbox's log: requests, span from first to last arrival, and the
    mean time between two consecutive requests beyond the server's latency (what the client
    spends on a page before asking for the next: decoding, records, queueing, pacing)."""
    by_res: dict[str, list[float]] = {}
    for e in stats.get("log") or []:
        by_res.setdefault(e.get("resource") or "?", []).append(e["time"])
    out = {}
    for res, times in by_res.items():
        times.sort()
        gaps = [b - a for a, b in zip(times, times[1:])]
        out[res] = {"requests": len(times), "span_s": round(times[-1] - times[0], 2) if times else 0,
                    "client_s_per_page": round(sum(gaps) / len(gaps) - latency_s, 3) if gaps else None}
    return out


def check_old_signatures(run: Run) -> str:
    """The earlier connector signs urlencode(params) itself: did the sandbox accept it?"""
    log_entries = run.stats.get("log") or []
    bad = [e for e in log_entries if e.get("status") == 401]
    if not bad:
        return f"all {len(log_entries)} signed requests accepted (no 401)"
    return (f"{len(bad)} of {len(log_entries)} requests refused with 401, e.g. "
            + "; ".join(e["target"] for e in bad[:3]))


# ------------------------------------------------------------------------------------------------
# scenarios


def scenario_token_probe(old_exe: Path, work: Path) -> dict:
    """Show that the earlier connector's single-store token auth sends no token on this CDK."""
    sb = start_sandbox(dict(size="tiny"))
    try:
        cat = discover(old_exe, sb, token_config(sb), work / "token-probe")
        run = run_read("earlier/token", old_exe, work / "token-probe", sb, token_config(sb),
                       configured_catalog(cat, ["order_statuses"]), timeout=300)
        entries = run.stats.get("log") or []
        sent = sum(1 for e in entries if e.get("auth") is not None)
        statuses = sorted({e.get("status") for e in entries}, key=str)
        ok = any(e.get("status") == 200 for e in entries)
        return {"requests": len(entries), "requests_with_token": sent, "statuses": statuses,
                "records": run.total_records, "works": ok,
                "note": ("the earlier connector's token auth sends no X-AC-Auth-Token on airbyte-cdk 7 "
                         f"({len(entries)} request(s), {sent} with a token, statuses {statuses}, "
                         f"{run.total_records} records): both connectors are benchmarked through the "
                         "Central API Router") if not ok else "the earlier connector's token auth worked"}
    finally:
        sb.stop()


def record_quality(run: Run, gt: dict[str, dict]) -> dict:
    """Unique ids, duplicates and ids missing against the sandbox (when ids were kept)."""
    if not run.ids:
        return {}
    unique = sum(len(v) for v in run.ids.values())
    missing = {s: len(gt[s]["ids"] - run.ids.get(s, set())) for s in STREAMS}
    missing_null = {s: len((gt[s]["ids"] - run.ids.get(s, set())) & gt[s]["null_cursor"]) for s in STREAMS}
    return {"unique_records": unique, "duplicates": run.total_records - unique,
            "missing": sum(missing.values()), "missing_null_cursor": sum(missing_null.values()),
            "missing_by_stream": missing}


def scenario_zero_latency(exes: dict, work: Path, reps: int) -> dict:
    """Records/s, CPU and memory with no latency and no server rate limit; both connectors as
    shipped (ours paces under the limit the sandbox reports, which is a million here)."""
    sb = start_sandbox(DATA_ZERO)
    try:
        gt = truth(sb)
        counts = {s: len(v["ids"]) for s, v in gt.items()}
        served = min(PAGE_SIZE_ASKED, int(sb.info.get("max_page_size", 1000)))
        minimum = min_requests(counts, served)
        res: dict[str, Any] = {"dataset": {**DATA_ZERO, "seed": SEED, "records": sum(counts.values()),
                                           "records_by_stream": counts, "page_size_served": served,
                                           "min_requests": minimum,
                                           "null_cursor_records": sum(len(v["null_cursor"]) for v in gt.values()),
                                           "reps": reps}}
        variants = [("ours", exes["ours"], {}), ("earlier", exes["earlier"], {})]
        catalogs = {}
        for name, exe, extra in variants:
            found = discover(exe, sb, router_config(sb, **extra), work / f"zero-{name}")
            catalogs[name] = configured_catalog(found, list(STREAMS))
        runs: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        for rep in range(reps):
            for name, exe, extra in variants:
                log(f"zero latency: {name} reading {sum(counts.values()):,} records (run {rep + 1}/{reps})")
                run = run_read(name, exe, work / f"zero-{name}", sb, router_config(sb, **extra), catalogs[name])
                reqs = run.stats.get("requests_total", 0)
                entry = run.summary()
                entry.update({
                    "records_per_s": run.total_records / run.wall if run.wall else None,
                    "cpu_s_per_1000_records": 1000 * run.cpu / run.total_records if run.total_records else None,
                    "requests_per_s": reqs / run.wall if run.wall else None,
                    "min_requests": minimum,
                    "requests_vs_min": reqs / minimum if minimum else None,
                    "non_2xx": failed_requests(run.stats),
                    "load_avg_1m": os.getloadavg()[0],
                    **record_quality(run, gt),
                })
                if name == "earlier":
                    entry["signatures"] = check_old_signatures(run)
                log(f"  {name}: {run.total_records:,} records in {run.wall:.1f} s, cpu {run.cpu:.1f} s, "
                    f"rss {run.maxrss_mb:.0f} MB, {reqs} requests (min {minimum}), "
                    f"missing {entry.get('missing')}, duplicates {entry.get('duplicates')}, exit {run.exit_code}"
                    + (f", errors {run.errors[:2]}" if run.errors else ""))
                runs[name].append(entry)
        for name, entries in runs.items():
            best = min(entries, key=lambda e: e["wall_s"])  # best of the repetitions: least disturbed
            res[name] = {**best, "wall_s_all": [e["wall_s"] for e in entries],
                         "cpu_s_all": [e["cpu_s"] for e in entries]}
        # Each repetition ran both connectors one after the other: their CPU ratio per repetition
        # shows how much of a difference is the machine's noise.
        res["cpu_ratio_per_run"] = [
            (o["cpu_s"] / o["records"]) / (e["cpu_s"] / e["records"])
            for o, e in zip(runs["ours"], runs["earlier"]) if o.get("records") and e.get("records") and e["cpu_s"]
        ]
    finally:
        sb.stop()
    for name, exe, extra in variants:
        start_cpu, start_records = start_up_cpu(name, exe, extra, catalogs[name], work, reps)
        big = res[name]
        big.update({
            "start_cpu_s": start_cpu, "start_records": start_records,
            "cpu_us_per_record_beyond_start": (
                1e6 * (big["cpu_s"] - start_cpu) / big["records"]
                if big.get("records") and start_cpu is not None else None),
        })
    return res


def start_up_cpu(name: str, exe: Path, extra: dict, catalog: dict, work: Path, reps: int) -> tuple:
    """CPU at start: the same command on a store of about a hundred records, least of `reps`
    runs, and the records it read. What is left of a big sync's CPU is the cost of its records."""
    sb = start_sandbox(DATA_START)
    try:
        cpus, records = [], 0
        for _ in range(reps):
            run = run_read(name, exe, work / f"start-{name}", sb, router_config(sb, **extra), catalog, keep_ids=False)
            if run.exit_code != 0 or not run.total_records:  # a failed sync says nothing of start-up
                log(f"  {name}: start-up run failed (exit {run.exit_code}, {run.total_records} records, "
                    f"errors {run.errors[:2]}); not counted")
                continue
            cpus.append(run.cpu)
            records = run.total_records
    finally:
        sb.stop()
    if not cpus:
        return None, records
    log(f"  {name}: start-up {min(cpus):.2f} s of CPU ({records} records)")
    return min(cpus), records


def scenario_rate_limit(exes: dict, work: Path) -> dict:
    """Wall time against the ideal under each documented plan. Ours is given no limit: it learns
    the plan from X-AC-Call-Limit. The earlier connector runs under RATE_LIMIT only."""
    res: dict[str, Any] = {"plans": {}}
    runs = [("ours", limit, page) for limit, page in RATE_PLANS.items()]
    runs.append(("earlier", RATE_LIMIT, RATE_PLANS[RATE_LIMIT]))
    for name, limit, page in runs:
        sb = start_sandbox(DATA_RATE, rate_limit=limit, rate_window="fixed", retry_after="date",
                           max_page_size=page)
        try:
            gt = truth(sb)
            counts = {s: len(v["ids"]) for s, v in gt.items()}
            minimum = min_requests(counts, min(PAGE_SIZE_ASKED, page))
            exe = exes[name]
            cfg = router_config(sb)
            cat = configured_catalog(discover(exe, sb, cfg, work / f"rate-{name}-{limit}"), list(STREAMS))
            sb.control.set_rate_limit(limit=limit)  # resets the window counter
            log(f"rate limit: {name} reading {sum(counts.values()):,} records at {limit} calls / 10 s, page {page}")
            run = run_read(name, exe, work / f"rate-{name}-{limit}", sb, cfg, cat, timeout=1800)
            reqs = run.stats.get("requests_total", 0)
            limited = run.stats.get("rate_limited", 0)
            useful = reqs - limited
            ideal = useful / limit * 10
            entry = run.summary()
            entry.update(record_quality(run, gt))
            entry.update({"limit": limit, "page_size_served": page, "min_requests": minimum,
                          "records_in_sandbox": sum(counts.values()),
                          "requests_accepted": useful, "ideal_s": ideal,
                          "wall_vs_ideal": run.wall / ideal if ideal else None,
                          "ideal_at_min_s": minimum / limit * 10,
                          "wall_vs_ideal_at_min": run.wall / (minimum / limit * 10),
                          "complete": all(run.records.get(s, 0) >= len(gt[s]["ids"] - gt[s]["null_cursor"])
                                          for s in STREAMS) and run.exit_code == 0})
            log(f"  {name}: {run.total_records:,} records in {run.wall:.1f} s, {reqs} requests "
                f"({limited} answered 429), ideal {ideal:.1f} s, exit {run.exit_code}"
                + (f", errors {run.errors[:2]}" if run.errors else ""))
            if name == "ours":
                res["plans"][str(limit)] = entry
            if limit == RATE_LIMIT:
                res[name] = entry
        finally:
            sb.stop()
    res["dataset"] = {**DATA_RATE, "seed": SEED, "records": res["ours"]["records_in_sandbox"],
                      "page_size_served": RATE_PLANS[RATE_LIMIT], "min_requests": res["ours"]["min_requests"],
                      "rate_limit": "fixed 10 s windows, Retry-After as an HTTP date",
                      "ideal_at_min_s": res["ours"]["ideal_at_min_s"]}
    return res


def scenario_latency(exes: dict, work: Path) -> dict:
    sb = start_sandbox(DATA_LATENCY, faults={"rate": 0, "latency_ms": [LATENCY_MS, LATENCY_MS]})
    try:
        gt = truth(sb)
        counts = {s: len(v["ids"]) for s, v in gt.items()}
        served = min(PAGE_SIZE_ASKED, int(sb.info.get("max_page_size", 1000)))
        minimum = min_requests(counts, served)
        res = {"dataset": {**DATA_LATENCY, "seed": SEED, "records": sum(counts.values()),
                           "latency_ms": LATENCY_MS, "min_requests": minimum,
                           "pages_by_stream": {s: max(1, ceil_div(n, served)) for s, n in counts.items()}}}
        variants = [("ours", exes["ours"], {}), ("ours_windows", exes["ours"], LATENCY_TUNED),
                    ("earlier", exes["earlier"], {})]
        for name, exe, extra in variants:
            cfg = router_config(sb, **extra)
            cat = configured_catalog(discover(exe, sb, cfg, work / f"latency-{name}"), list(STREAMS))
            log(f"latency {LATENCY_MS} ms: {name} {extra or ''} reading {sum(counts.values()):,} records")
            run = run_read(name, exe, work / f"latency-{name}", sb, cfg, cat, timeout=1800)
            reqs = run.stats.get("requests_total", 0)
            entry = run.summary()
            entry.update(record_quality(run, gt))
            entry.update({"sequential_floor_s": reqs * LATENCY_MS / 1000,
                          "page_timing": page_timing(run.stats, LATENCY_MS / 1000)})
            log(f"  {name}: {run.total_records:,} records in {run.wall:.1f} s, {reqs} requests, "
                f"exit {run.exit_code}" + (f", errors {run.errors[:2]}" if run.errors else ""))
            res[name] = entry
        # With one window per stream, streams are the unit of parallelism: the longest stream's
        # pages, read one after the other, bound our wall time from below.
        longest = max(res["dataset"]["pages_by_stream"].values())
        res["dataset"]["longest_stream_floor_s"] = longest * LATENCY_MS / 1000
        return res
    finally:
        sb.stop()


def scenario_million(ours: Path, work: Path) -> dict:
    t0 = time.perf_counter()
    sb = start_sandbox(DATA_MILLION)
    try:
        n = int(sb.info["sizes"]["orders"])
        cfg = router_config(sb)
        cat = configured_catalog(discover(ours, sb, cfg, work / "million"), ["orders"])
        log(f"million: ours reading {n:,} orders")
        run = run_read("ours", ours, work / "million", sb, cfg, cat, timeout=7200)
        reqs = run.stats.get("requests_total", 0)
        res = run.summary()
        res.update({"orders_in_sandbox": n, "records_per_s": run.total_records / run.wall if run.wall else None,
                    "min_requests": ceil_div(n, 1000), "requests_vs_min": reqs / ceil_div(n, 1000),
                    "part_s": time.perf_counter() - t0})
        log(f"  ours: {run.total_records:,} orders in {run.wall:.0f} s, peak RSS {run.maxrss_mb:.0f} MB, "
            f"{reqs} requests, exit {run.exit_code}" + (f", errors {run.errors[:2]}" if run.errors else ""))
        return res
    finally:
        sb.stop()


def compare_ids(label: str, got: dict[str, set], gt: dict[str, dict]) -> dict:
    out = {"ok": True, "streams": {}}
    for s in STREAMS:
        want = gt[s]["ids"]
        have = got.get(s, set())
        missing = want - have
        extra = have - want
        out["streams"][s] = {"sandbox": len(want), "synced": len(have & want), "missing": len(missing),
                             "missing_null_cursor": len(missing & gt[s]["null_cursor"]),
                             "missing_other": len(missing - gt[s]["null_cursor"]),
                             "unknown_ids": len(extra),
                             "missing_sample": sorted(missing, key=str)[:5]}
        if missing or extra:
            out["ok"] = False
    tot = out["streams"].values()
    out["missing"] = sum(v["missing"] for v in tot)
    out["missing_null_cursor"] = sum(v["missing_null_cursor"] for v in tot)
    out["missing_other"] = sum(v["missing_other"] for v in tot)
    log(f"  {label}: {'OK' if out['ok'] else 'LOST RECORDS'}: missing {out['missing']} "
        f"({out['missing_null_cursor']} with null/blank updated_at, {out['missing_other']} other)")
    return out


def scenario_torture(ours: Path, work: Path, kill_fraction: float = 0.5) -> dict:
    t0 = time.perf_counter()
    sb = start_sandbox(DATA_TORTURE)
    try:
        gt = truth(sb)
        total = sum(len(v["ids"]) for v in gt.values())
        res: dict[str, Any] = {"dataset": {**DATA_TORTURE, "seed": SEED, "records": total,
                                           "null_cursor_records": sum(len(v["null_cursor"]) for v in gt.values()),
                                           "faults": TORTURE_FAULTS}}
        cfg = router_config(sb)
        catalog = discover(ours, sb, cfg, work / "torture")

        # 1. A full refresh under 10% assorted faults.
        sb.control.set_faults(**TORTURE_FAULTS)
        log(f"torture: full refresh of {total:,} records with {TORTURE_FAULTS['rate']:.0%} faults")
        run = run_read("ours", ours, work / "torture" / "full", sb, cfg,
                       configured_catalog(catalog, list(STREAMS)), keep_ids=True, timeout=3600)
        res["full_refresh"] = {**run.summary(), **compare_ids("full refresh", run.ids, gt)}
        log(f"    {run.total_records:,} records in {run.wall:.0f} s, {run.stats.get('requests_total')} requests, "
            f"faults {run.stats.get('faults')}, exit {run.exit_code}" + (f", errors {run.errors[:2]}" if run.errors else ""))

        # 2. An incremental sync killed mid-way, then resumed from its last emitted state.
        sb.control.set_faults(**{**TORTURE_FAULTS, "seed": TORTURE_FAULTS["seed"] + 1})
        kill_at = int(total * kill_fraction)
        inc_catalog = configured_catalog(catalog, list(STREAMS), incremental=True)
        log(f"torture: incremental sync, SIGKILL after {kill_at:,} records")
        first = run_read("ours", ours, work / "torture" / "killed", sb, cfg, inc_catalog,
                         kill_after_records=kill_at, keep_ids=True, timeout=3600)
        state = list(first.states.values())
        log(f"    killed={first.killed} after {first.total_records:,} records in {first.wall:.0f} s; "
            f"state saved for {sorted(first.states)}")
        second = run_read("ours", ours, work / "torture" / "resumed", sb, cfg, inc_catalog,
                          state=state, keep_ids=True, timeout=3600)
        log(f"    resumed: {second.total_records:,} records in {second.wall:.0f} s, exit {second.exit_code}"
            + (f", errors {second.errors[:2]}" if second.errors else ""))
        union = {s: first.ids.get(s, set()) | second.ids.get(s, set()) for s in STREAMS}
        res["kill_resume"] = {"killed": first.killed, "killed_after_records": first.total_records,
                              "state_streams_at_kill": sorted(first.states),
                              "first": first.summary(), "resumed": second.summary(),
                              "re_read_records": second.total_records,
                              **compare_ids("kill + resume", union, gt)}
        res["ok"] = bool(res["full_refresh"]["ok"] and res["kill_resume"]["ok"]
                         and run.exit_code == 0 and second.exit_code == 0 and first.killed)
        res["part_s"] = time.perf_counter() - t0
        return res
    finally:
        sb.stop()


def scenario_resume(exes: dict, work: Path, earlier_problem: str | None) -> dict:
    """Each connector: an uninterrupted incremental first sync of 30,000 orders (its requests and
    STATE messages), then the same sync SIGKILLed once 20,000 records are out, then a sync
    resumed from the last STATE the killed one printed. "Read again" is the orders both the
    killed and the resumed sync emitted; "missing" those neither did."""
    sb = start_sandbox(DATA_RESUME)
    try:
        everything = {r["id"] for r in sb.control.records("orders", fields=["id"])}
        n = len(everything)
        res: dict[str, Any] = {"dataset": {**DATA_RESUME, "seed": SEED, "orders": n, "kill_at": RESUME_KILL_AT,
                                           "min_requests": ceil_div(n, PAGE_SIZE_ASKED)}}
        for name in ("ours", "earlier"):
            exe = exes.get(name)
            if exe is None:
                res[name] = {"not_run": earlier_problem or "no executable"}
                log(f"resume: {name} not run: {res[name]['not_run']}")
                continue
            cfg = router_config(sb)
            folder = work / f"resume-{name}"
            cat = configured_catalog(discover(exe, sb, cfg, folder), ["orders"], incremental=True)
            log(f"resume: {name} uninterrupted incremental first sync of {n:,} orders")
            full = run_read(name, exe, folder / "full", sb, cfg, cat, keep_ids=True, timeout=1800)
            log(f"resume: {name} the same sync, SIGKILLed after {RESUME_KILL_AT:,} records")
            killed = run_read(name, exe, folder / "killed", sb, cfg, cat, kill_after_records=RESUME_KILL_AT,
                              keep_ids=True, timeout=1800)
            saved = killed.states.get("orders")
            resumed = run_read(name, exe, folder / "resumed", sb, cfg, cat, state=[saved] if saved else None,
                               keep_ids=True, timeout=1800)
            before, after = killed.ids.get("orders", set()), resumed.ids.get("orders", set())
            entry = {
                "full": {**full.summary(), "states": full.state_counts.get("orders", 0),
                         "missing": len(everything - full.ids.get("orders", set()))},
                "killed": {**killed.summary(), "states": killed.state_counts.get("orders", 0),
                           "last_state": (saved or {}).get("stream", {}).get("stream_state")},
                "resumed": resumed.summary(),
                "read_again": len(before & after),
                "missing": len(everything - before - after),
                "resumed_exit_code": resumed.exit_code,
            }
            log(f"  {name}: uninterrupted {full.total_records:,} records, {full.stats.get('requests_total')} requests, "
                f"{entry['full']['states']} STATE messages; killed={killed.killed} after {killed.total_records:,} "
                f"records, last state {entry['killed']['last_state']}; resumed {resumed.total_records:,} records "
                f"(exit {resumed.exit_code}), read again {entry['read_again']:,}, missing {entry['missing']:,}"
                + (f", errors {resumed.errors[:2]}" if resumed.errors else ""))
            res[name] = entry
        return res
    finally:
        sb.stop()


# ------------------------------------------------------------------------------------------------
# report


def table(results: dict) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []
    verdicts: list[str] = []

    def row(metric, ours, earlier, rat, goal="", ok=None):
        rows.append((metric, fmt(ours), fmt(earlier), fmt(rat), goal, "" if ok is None else ("ok" if ok else "SHORT")))
        if ok is False:
            verdicts.append(metric)

    z = results.get("zero_latency")
    if z:
        o, e = z.get("ours", {}), z.get("earlier", {})
        d = z["dataset"]
        row(f"[zero latency, no rate limit] {d['records']:,} records in the sandbox, min {d['min_requests']} "
            f"requests, best of {d.get('reps', 1)}", None, None, None)
        row("records emitted", o.get("records"), e.get("records"), ratio(o.get("records"), e.get("records")))
        row("  duplicates", o.get("duplicates"), e.get("duplicates"), None)
        row("  missing (null/blank updated_at)", o.get("missing"), e.get("missing"), None)
        row("wall s", o.get("wall_s"), e.get("wall_s"), ratio(o.get("wall_s"), e.get("wall_s")))
        r = ratio(o.get("records_per_s"), e.get("records_per_s"))
        row("records/s", o.get("records_per_s"), e.get("records_per_s"), r, ">= 1x earlier",
            None if r is None else r >= 1.0)
        row("  requests/s", o.get("requests_per_s"), e.get("requests_per_s"), ratio(o.get("requests_per_s"), e.get("requests_per_s")))
        r = ratio(o.get("cpu_s_per_1000_records"), e.get("cpu_s_per_1000_records"))
        row("CPU s / 1000 records", o.get("cpu_s_per_1000_records"), e.get("cpu_s_per_1000_records"), r,
            "<= 1x earlier", None if r is None else r <= 1.0)
        spread = z.get("cpu_ratio_per_run") or []
        if spread:
            row(f"  ratio in each of the {len(spread)} paired runs", None, None,
                f"{min(spread):.2f}-{max(spread):.2f}" if len(spread) > 1 else spread[0])
        row("CPU s (user+sys)", o.get("cpu_s"), e.get("cpu_s"), ratio(o.get("cpu_s"), e.get("cpu_s")))
        if o.get("start_cpu_s") is not None or e.get("start_cpu_s") is not None:
            row(f"  of which at start (least of {d.get('reps', 1)} syncs of ~{o.get('start_records')} records)",
                o.get("start_cpu_s"), e.get("start_cpu_s"), ratio(o.get("start_cpu_s"), e.get("start_cpu_s")))
            ob, eb = o.get("cpu_us_per_record_beyond_start"), e.get("cpu_us_per_record_beyond_start")
            row("  CPU us / record beyond start", ob, eb, ratio(ob, eb))
        row("peak RSS MB", o.get("max_rss_mb"), e.get("max_rss_mb"), ratio(o.get("max_rss_mb"), e.get("max_rss_mb")))
        row("requests", o.get("requests"), e.get("requests"), ratio(o.get("requests"), e.get("requests")))
        rq = o.get("requests_vs_min")
        row("requests / minimum", rq, e.get("requests_vs_min"), ratio(rq, e.get("requests_vs_min")),
            "ours <= 1.10", None if rq is None else rq <= 1.10)
    rl = results.get("rate_limit")
    if rl:
        o, e = rl.get("ours", {}), rl.get("earlier", {})
        d = rl["dataset"]
        row(f"[rate limit {RATE_LIMIT}/10 s, page {d['page_size_served']}] {d['records']:,} records, "
            f"min {d['min_requests']} requests; ours learns the limit from X-AC-Call-Limit", None, None, None)
        row("wall s", o.get("wall_s"), e.get("wall_s"), ratio(o.get("wall_s"), e.get("wall_s")))
        row("requests sent (incl. 429)", o.get("requests"), e.get("requests"), ratio(o.get("requests"), e.get("requests")))
        row("answered 429", o.get("rate_limited"), e.get("rate_limited"), None)
        row("ideal s = accepted / limit x 10", o.get("ideal_s"), e.get("ideal_s"), None)
        wv = o.get("wall_vs_ideal")
        row("wall / ideal", wv, e.get("wall_vs_ideal"), ratio(wv, e.get("wall_vs_ideal")), "ours <= 1.15",
            None if wv is None else wv <= 1.15)
        row("complete, exit 0", o.get("complete"), e.get("complete"), None)
        for limit, p in sorted((rl.get("plans") or {}).items(), key=lambda kv: int(kv[0])):
            if int(limit) == RATE_LIMIT:
                continue
            wv = p.get("wall_vs_ideal")
            row(f"plan {limit}/10 s (page {p['page_size_served']}): wall s, 429s, wall / ideal",
                f"{p['wall_s']:.1f}, {p['rate_limited']}, {fmt(wv)}", None, None, "ours <= 1.15",
                None if wv is None else (wv <= 1.15 and p.get("complete")))
    la = results.get("latency")
    if la:
        o, w, e = la.get("ours", {}), la.get("ours_windows", {}), la.get("earlier", {})
        d = la["dataset"]
        row(f"[latency {LATENCY_MS} ms, no rate limit] {d['records']:,} records", None, None, None)
        sp = ratio(e.get("wall_s"), o.get("wall_s"))
        row("wall s, as shipped (concurrency 4, one window)", o.get("wall_s"), e.get("wall_s"),
            ratio(o.get("wall_s"), e.get("wall_s")))
        row("  speed-up earlier/ours", sp, None, None)
        row("  longest stream floor s (its pages one by one)", d.get("longest_stream_floor_s"), None, None)
        if w:
            tuned = ", ".join(f"{k}={v}" for k, v in LATENCY_TUNED.items())
            spw = ratio(e.get("wall_s"), w.get("wall_s"))
            row(f"wall s, {tuned}", w.get("wall_s"), e.get("wall_s"), ratio(w.get("wall_s"), e.get("wall_s")))
            row("  speed-up earlier/ours", spw, None, None, ">= 3", None if spw is None else spw >= 3.0)
            row("  requests, duplicates", f"{w.get('requests')}, {w.get('duplicates')}", None, None)
        pto, pte = o.get("page_timing") or {}, e.get("page_timing") or {}
        big = max(pto, key=lambda k: pto[k]["requests"]) if pto else None
        if big:
            row(f"{big}: span first-last request s", pto[big]["span_s"], (pte.get(big) or {}).get("span_s"), None)
            row(f"{big}: client s per page beyond latency", pto[big]["client_s_per_page"],
                (pte.get(big) or {}).get("client_s_per_page"), None)
        row("requests", o.get("requests"), e.get("requests"), ratio(o.get("requests"), e.get("requests")))
    m = results.get("million")
    if m:
        row(f"[one million orders] {m.get('orders_in_sandbox', 0):,} in sandbox", None, None, None)
        row("records", m.get("records"), None, None)
        row("wall s", m.get("wall_s"), None, None)
        row("records/s", m.get("records_per_s"), None, None)
        row("peak RSS MB", m.get("max_rss_mb"), None, None, "< 200", m.get("max_rss_mb", 1e9) < 200)
        row("requests / minimum", m.get("requests_vs_min"), None, None, "<= 1.10", m.get("requests_vs_min", 9) <= 1.10)
    t = results.get("torture")
    if t:
        d = t["dataset"]
        row(f"[torture] {d['records']:,} records, {d['faults']['rate']:.0%} faults", None, None, None)
        fr = t["full_refresh"]
        row("full refresh: missing (null cursor/other)",
            f"{fr['missing']} ({fr['missing_null_cursor']}/{fr['missing_other']})", None, None, "0", fr["ok"])
        row("full refresh: faults injected", sum((fr.get("faults") or {}).values()), None, None)
        row("full refresh: wall s", fr.get("wall_s"), None, None)
        kr = t["kill_resume"]
        row("kill+resume: missing (null cursor/other)",
            f"{kr['missing']} ({kr['missing_null_cursor']}/{kr['missing_other']})", None, None, "0", kr["ok"])
        row("kill+resume: records before kill / re-read", f"{kr['killed_after_records']:,} / {kr['re_read_records']:,}",
            None, None)
    rs = results.get("resume")
    if rs:
        d = rs["dataset"]
        o, e = rs.get("ours", {}), rs.get("earlier", {})
        row(f"[kill and resume] {d['orders']:,} orders (none with a blank updated_at), incremental first sync "
            f"SIGKILLed after {d['kill_at']:,} records, resumed from its last STATE", None, None, None)

        def of(entry: dict, *path: str) -> Any:
            if "not_run" in entry:
                return "not run"
            for key in path:
                entry = (entry or {}).get(key)
            return entry

        row(f"records read again after a kill at 2/3 of {d['orders']:,}", of(o, "read_again"), of(e, "read_again"),
            None, "ours <= 1000", None if not isinstance(of(o, "read_again"), int) else o["read_again"] <= 1000)
        row("  missing after the resume", of(o, "missing"), of(e, "missing"), None, "0",
            None if not isinstance(of(o, "missing"), int) else o["missing"] == 0)
        row("  records printed before the kill", of(o, "killed", "records"), of(e, "killed", "records"), None)
        row("  resumed sync: records, exit code",
            f"{fmt(of(o, 'resumed', 'records'))}, {of(o, 'resumed_exit_code')}" if "not_run" not in o else "not run",
            f"{fmt(of(e, 'resumed', 'records'))}, {of(e, 'resumed_exit_code')}" if "not_run" not in e else "not run", None)
        row(f"requests, uninterrupted first sync of orders (least: {d['min_requests']} pages)",
            of(o, "full", "requests"), of(e, "full", "requests"), None)
        row("  STATE messages of orders in it", of(o, "full", "states"), of(e, "full", "states"), None)
        row("  missing in it", of(o, "full", "missing"), of(e, "full", "missing"), None)

    def is_header(r):
        return r[0].startswith("[") and r[1] == "-" and r[2] == "-"

    body = [r for r in rows if not is_header(r)]
    widths = [max(len(r[i]) for r in body + [("metric", "ours", "earlier", "ours/earlier", "goal", "")])
              for i in range(6)]
    head = ("metric", "ours", "earlier", "ours/earlier", "goal", "")
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) if i < 4 else h.ljust(w)
                       for i, (h, w) in enumerate(zip(head, widths)))]
    lines.append("-" * len(lines[0]))
    for r in rows:
        if is_header(r):
            lines.append(r[0])
            continue
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) if i < 4 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    if verdicts:
        lines.append("")
        lines.append("SHORT of the goal: " + "; ".join(verdicts))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------


def git_state() -> dict:
    """Which code was measured: HEAD, and the files changed in the working tree."""
    def git(*a):
        p = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return p.stdout if p.returncode == 0 else None
    changed = git("status", "--porcelain", "--untracked-files=no") or ""
    return {"head": (git("rev-parse", "--short", "HEAD") or "").strip() or None,
            "changed_files": [ln[3:] for ln in changed.splitlines() if len(ln) > 3]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", default=True,
                    help="our peak memory at one million orders (on by default, about 4 minutes)")
    ap.add_argument("--no-million", dest="million", action="store_false", help="skip the million-orders run")
    ap.add_argument("--torture", action="store_true", help="also the fault torture (our connector only)")
    ap.add_argument("--resume", action="store_true",
                    help="also kill and resume: both connectors' first sync of 30,000 orders SIGKILLed at two thirds")
    ap.add_argument("--reps", type=int, default=3, help="zero-latency runs per connector (best kept)")
    ap.add_argument("--only", default="", help="comma-separated parts: token,zero,rate,latency,million,torture,resume")
    ap.add_argument("--ours-venv", default=str(ROOT / ".venv"), help="virtualenv of this connector (default .venv)")
    ap.add_argument("--old-venv", default=str(OLD_VENV_DEFAULT), help="virtualenv of the earlier connector")
    ap.add_argument("--output", default=str(OUT_DIR / "latest.json"))
    args = ap.parse_args()

    parts = ["token", "zero", "rate", "latency"]
    if args.million:
        parts.append("million")
    if args.torture:
        parts.append("torture")
    if args.resume:
        parts.append("resume")
    if args.only:
        parts = [p.strip() for p in args.only.split(",") if p.strip()]

    ours = Path(args.ours_venv).resolve() / "bin" / "source-cart"
    if not ours.exists():
        raise SystemExit(f"{ours} not found: run `make install` first")
    needs_old = any(p in parts for p in ("token", "zero", "rate", "latency"))
    old = ensure_old_venv(Path(args.old_venv).resolve()) if needs_old else None
    old_problem = None
    if "resume" in parts and old is None:
        # Kill and resume still measures ours when the earlier connector cannot be installed
        # (no package index reachable, say): its column then says "not run", and why.
        try:
            old = ensure_old_venv(Path(args.old_venv).resolve())
        except (SystemExit, Exception) as exc:  # noqa: BLE001 - any failure to install means "not run"
            old_problem = f"the earlier connector could not be installed ({exc})"
    exes = {"ours": ours, "earlier": old}

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    work = OUT_DIR / "work"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "earlier_connector": OLD_REQUIREMENTS,
        "auth": "Central API Router for both connectors",
        "durations_s": {},
        "source": git_state(),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def save():
        output.write_text(json.dumps(results, indent=2, default=lambda o: sorted(o) if isinstance(o, set) else str(o)))

    started = time.perf_counter()
    steps = {
        "token": ("token_probe", lambda: scenario_token_probe(old, work)),
        "zero": ("zero_latency", lambda: scenario_zero_latency(exes, work, args.reps)),
        "rate": ("rate_limit", lambda: scenario_rate_limit(exes, work)),
        "latency": ("latency", lambda: scenario_latency(exes, work)),
        "million": ("million", lambda: scenario_million(ours, work)),
        "torture": ("torture", lambda: scenario_torture(ours, work)),
        "resume": ("resume", lambda: scenario_resume(exes, work, old_problem)),
    }
    for part in parts:
        key, fn = steps[part]
        t0 = time.perf_counter()
        log(f"part {part} ...")
        results[key] = fn()
        results["durations_s"][key] = round(time.perf_counter() - t0, 1)
        log(f"part {part} took {results['durations_s'][key]:.0f} s")
        save()
        if key == "token_probe":
            log(results[key]["note"])
    results["durations_s"]["total"] = round(time.perf_counter() - started, 1)

    text = table(results)
    results["table"] = text
    save()
    print()
    if "token_probe" in results:
        print("Note: " + results["token_probe"]["note"] + ".")
    if "zero_latency" in results and "earlier" in results["zero_latency"]:
        print("Earlier connector's own signatures (urlencode(params)): "
              + results["zero_latency"]["earlier"].get("signatures", "-") + ".")
    src = results["source"]
    print(f"Measured: HEAD {src.get('head')}" + (f" with uncommitted changes to {', '.join(src['changed_files'])}"
                                                 if src.get("changed_files") else " (clean tree)") + ".")
    print("Durations (s): " + ", ".join(f"{k} {v:.0f}" for k, v in results["durations_s"].items()))
    print()
    print(text)
    print()
    print(f"JSON: {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    if "resume" in results and "not_run" in results["resume"].get("earlier", {}):
        print("Kill and resume, earlier connector not run: " + results["resume"]["earlier"]["not_run"] + ".")
    if "torture" in results and not results["torture"].get("ok"):
        print("TORTURE FAILED: records were lost (see the table and the JSON).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
