"""``python -m cart_sandbox`` / ``cart-sandbox``: run a local Cart.com sandbox.

Prints one JSON line (base URL, proxy URL, CA file, credentials) on stdout, then serves until
Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .app import SandboxConfig, normalize_kind, parse_latency
from .data import PRESETS, GenConfig


def parse_faults(text: str | None) -> dict:
    """'rate=0.1,kinds=500+503+drop,seed=3' or a JSON object or a bare rate ('0.1')."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    try:
        return {"rate": float(text)}
    except ValueError:
        pass
    out: dict = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if key in ("rate", "probability", "p"):
            out["rate"] = float(value)
        elif key == "kinds":
            out["kinds"] = [normalize_kind(k) for k in value.replace("|", "+").split("+") if k]
        elif key == "seed":
            out["seed"] = int(value)
        elif key == "resources":
            out["resources"] = [r for r in value.replace("|", "+").split("+") if r]
        elif key == "schedule":
            out["schedule"] = [k for k in value.replace("|", "+").split("+")]
        elif key in ("truncate_at", "trickle_interval", "hang_seconds"):
            out[key] = float(value)
        elif key == "trickle_bytes":
            out[key] = int(value)
        elif key in ("redirect_host", "bad_updated_at"):
            out[key] = value
        else:
            raise ValueError(f"unknown fault option {key!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cart-sandbox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="interface of the HTTPS listener")
    g.add_argument("--port", type=int, default=0, help="HTTPS port (0 = any free port)")
    g.add_argument("--proxy-port", type=int, default=0, help="CONNECT proxy port (0 = any)")
    g.add_argument("--state-dir", help="where to write the CA and server cert (default: a temp dir)")
    g.add_argument("--log-level", default="warning")
    g.add_argument("--config-json", help="a JSON object of SandboxConfig fields (gen: GenConfig fields)")

    g = p.add_argument_group("data")
    g.add_argument("--size", choices=sorted(PRESETS), default="small")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--orders", type=int)
    g.add_argument("--customers", type=int)
    g.add_argument("--products", type=int)
    g.add_argument("--null-cursor-rate", type=float, default=GenConfig.null_cursor_rate,
                   help="share of records with updated_at null or \"\"")
    g.add_argument("--no-bulk", action="store_true", help="no built-in bulk-import timestamp clusters")
    g.add_argument("--start", default=GenConfig.start, help="first generated instant")
    g.add_argument("--end", default=GenConfig.end, help="last generated instant")
    g.add_argument("--tz", default=GenConfig.tz, help="store time zone")

    g = p.add_argument_group("API behaviour")
    g.add_argument("--max-page-size", type=int, default=1000, help="silent cap on count")
    g.add_argument("--next-page-params", choices=("all", "minimal"), default="all",
                   help="next_page/previous_page repeat every parameter, or only page")
    g.add_argument("--rate-limit", type=int, default=50, help="calls per 10 s window (0 = off)")
    g.add_argument("--rate-window", choices=("fixed", "sliding"), default="fixed")
    g.add_argument("--retry-after", choices=("date", "seconds"), default="date")
    g.add_argument("--faults", help="e.g. 'rate=0.1,kinds=500+503+drop,seed=3' or JSON; hostile "
                   "kinds: redirect_http, redirect_https, same_page, hang, trickle, forbidden, "
                   "bad_updated_at_first (options redirect_host, trickle_interval, trickle_bytes, "
                   "hang_seconds, bad_updated_at)")
    g.add_argument("--fault-schedule", help="kinds of the next requests, e.g. '503,drop,ok,truncated'")
    g.add_argument("--fault-seed", type=int)
    g.add_argument("--latency", help="added latency in ms: '50' or '20-200'")

    g = p.add_argument_group("credentials")
    g.add_argument("--token", action="append", help="accepted X-AC-Auth-Token (repeatable)")
    g.add_argument("--limited-token", action="append",
                   help="TOKEN=scope1+scope2: a token limited to these scopes (repeatable)")
    g.add_argument("--scope-status", type=int, choices=(401, 403), default=403)
    g.add_argument("--router-user", default="sandbox-router-user")
    g.add_argument("--router-secret", default="sandbox-router-secret")
    g.add_argument("--site-id", default="1")
    g.add_argument("--store-domain", default="demo-store.sandbox.test")
    return p


def config_from_args(args) -> SandboxConfig:
    gen = GenConfig(seed=args.seed, size=args.size, orders=args.orders, customers=args.customers,
                    products=args.products, null_cursor_rate=args.null_cursor_rate,
                    bulk=not args.no_bulk, start=args.start, end=args.end, tz=args.tz)
    faults = parse_faults(args.faults)
    if args.fault_schedule:
        faults["schedule"] = [s.strip() for s in args.fault_schedule.split(",")]
    if args.fault_seed is not None:
        faults["seed"] = args.fault_seed
    if args.latency:
        faults["latency_ms"] = list(parse_latency(args.latency))
    cfg = SandboxConfig(
        gen=gen, max_page_size=args.max_page_size, next_page_params=args.next_page_params,
        rate_limit=args.rate_limit, rate_window=args.rate_window, retry_after=args.retry_after,
        faults=faults, scope_status=args.scope_status, router_user=args.router_user,
        router_secret=args.router_secret, site_id=str(args.site_id), store_domain=args.store_domain,
    )
    if args.token:
        cfg.tokens = list(args.token)
    if args.limited_token:
        cfg.limited_tokens = {}
        for item in args.limited_token:
            tok, _, scopes = item.partition("=")
            cfg.limited_tokens[tok] = [s for s in scopes.replace(",", "+").split("+") if s]
    if args.config_json:
        apply_config_json(cfg, json.loads(args.config_json))
    return cfg


def apply_config_json(cfg: SandboxConfig, data: dict) -> SandboxConfig:
    for key, value in data.items():
        if key == "gen":
            cfg.gen = cfg.gen.with_changes(**value)
        elif hasattr(cfg, key):
            setattr(cfg, key, value)
        else:
            raise ValueError(f"unknown sandbox option {key!r}")
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .server import SandboxServer

    # SIGTERM behaves like Ctrl-C (uvicorn handles both while serving in the main thread)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    cfg = config_from_args(args)
    server = None
    try:
        server = SandboxServer(cfg, host=args.host, port=args.port, proxy_port=args.proxy_port,
                               state_dir=args.state_dir, log_level=args.log_level)
        print(json.dumps(server.info()), flush=True)
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
