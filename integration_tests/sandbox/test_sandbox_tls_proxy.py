"""HTTPS only, certificate hosts, the CONNECT proxy, and unmodified clients configured by env."""

import json
import os
import socket
import subprocess
import sys

import pytest
import requests


def test_https_only(sb):
    with pytest.raises(requests.ConnectionError):
        requests.get(sb.base_url.replace("https://", "http://") + "/api/v1/orders", timeout=5)


def test_certificate_is_trusted_only_with_the_ca(sb):
    url = sb.base_url + "/__sandbox/health"
    with pytest.raises(requests.exceptions.SSLError):
        s = requests.Session()
        s.trust_env = False
        s.get(url, timeout=5)
    assert requests.get(url, verify=sb.ca_file, timeout=5).json() == {"ok": True}
    local = url.replace("127.0.0.1", "localhost")
    assert requests.get(local, verify=sb.ca_file, timeout=5).json() == {"ok": True}


@pytest.mark.parametrize("host", ["public.americommerce.com", "demo-store.sandbox.test",
                                  "another-store.sandbox.test"])
def test_hosts_through_the_proxy(http, host):
    assert http.get(f"https://{host}/__sandbox/health", timeout=5).json() == {"ok": True}


def test_proxy_never_leaves_the_machine(http, sb):
    # any host is tunnelled to the sandbox, whose certificate does not cover example.com
    with pytest.raises(requests.exceptions.SSLError):
        http.get("https://example.com/", timeout=5)
    assert sb.control.proxy_stats()["connects"].get("example.com:443") == 1


def test_proxy_refuses_plain_requests(sb):
    port = int(sb.proxy_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")


def test_unmodified_requests_client_via_environment(sb):
    code = (
        "import os, requests\n"
        "r = requests.get('https://demo-store.sandbox.test/api/v1/orders?count=2',"
        " headers={'X-AC-Auth-Token': os.environ['TOKEN']})\n"
        "print(r.status_code, len(r.json()['orders']))\n"
    )
    env = dict(os.environ, TOKEN=sb.token, **sb.env())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.split() == ["200", "2"], out.stderr


def test_patched_env(sb):
    with sb.patched_env():
        r = requests.get("https://public.americommerce.com/api/v1/orders?count=1",
                         headers=sb.router_headers("/api/v1/orders?count=1"), timeout=10)
    assert r.status_code == 200
    assert "REQUESTS_CA_BUNDLE" not in os.environ or os.environ["REQUESTS_CA_BUNDLE"] != sb.ca_file


def test_cli_prints_one_json_line_serves_and_stops_on_ctrl_c(tmp_path):
    import signal

    cmd = [sys.executable, "-m", "cart_sandbox", "--port", "0", "--size", "tiny", "--seed", "3",
           "--rate-limit", "2", "--retry-after", "seconds", "--faults", "rate=1,kinds=503,seed=2",
           "--fault-schedule", "ok", "--latency", "1-2", "--state-dir", str(tmp_path)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        for key in ("base_url", "proxy_url", "ca_file", "token", "router_user", "router_secret",
                    "site_id"):
            assert info[key], key
        assert os.path.exists(info["ca_file"]) and info["ca_file"].startswith(str(tmp_path))
        s = requests.Session()
        s.trust_env = False
        s.proxies = {"https": info["proxy_url"]}
        s.verify = info["ca_file"]
        h = {"X-AC-Auth-Token": info["token"]}
        codes = [s.get("https://demo-store.sandbox.test/api/v1/orders", headers=h).status_code
                 for _ in range(3)]
        assert codes == [200, 503, 429]  # scheduled ok, then the 100% fault rate, then the limit
        r = s.get("https://demo-store.sandbox.test/api/v1/orders", headers=h)
        assert r.status_code == 429 and r.headers["X-AC-Call-Limit"] == "2/2"
        assert int(r.headers["Retry-After"]) >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0
    assert "Traceback" not in proc.stderr.read()


def test_subprocess_harness():
    from cart_sandbox.harness import Sandbox

    with Sandbox(mode="subprocess", size="tiny", seed=2, rate_limit=0) as sb:
        s = sb.session()
        body = s.get(f"{sb.store_url}/api/v1/customers", headers={"X-AC-Auth-Token": sb.token}).json()
        assert body["total_count"] == 8
        assert sb.control.stats(log=False)["by_resource"] == {"customers": 1}
        ca = sb.ca_file
    assert not os.path.exists(ca)
