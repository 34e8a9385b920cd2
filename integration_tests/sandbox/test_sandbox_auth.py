"""Token auth, scopes, and the Central API Router's HMAC signature (computed here independently)."""

import base64
import hashlib
import hmac

import requests

UNAUTHORIZED = {"status_code": 401, "message": "Unauthorized", "details": "Invalid or missing access token."}


def sign(secret: str, path_and_query: str, user: str) -> str:
    digest = hmac.new(secret.encode(), ("GET&" + path_and_query + "&" + user).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_token_required(api, http, sb):
    url = api.url("orders")
    r = http.get(url)
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert "X-AC-Call-Limit" in r.headers
    r = http.get(url, headers={"X-AC-Auth-Token": "wrong"})
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert api.get("orders", {"count": 1}).status_code == 200


def test_limited_token_scopes(api, sb):
    tok = sb.limited_token
    assert sb.limited_token_scopes == ["read_orders"]
    assert api.get("orders", token=tok).status_code == 200
    r = api.get("customers", token=tok)
    assert r.status_code == 403 and r.json()["status_code"] == 403
    sb.control.settings(scope_status=401)
    r = api.get("products", token=tok)
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


def _router_get(sb, http, params, user=None, secret=None, site=None, drop=None, tamper=None):
    req = requests.Request("GET", f"{sb.router_url}/api/v1/orders", params=params).prepare()
    target = req.path_url  # exactly what goes on the wire
    user = user or sb.router_user
    headers = {"X-AC-PUB-Site-ID": site or sb.site_id, "X-AC-PUB-User": user,
               "X-AC-PUB-Auth-Signature": sign(secret or sb.router_secret,
                                               tamper(target) if tamper else target, user)}
    if drop:
        headers.pop(drop)
    req.headers.update(headers)
    return http.send(req, timeout=30), target


def test_router_signature_accepted(sb, http, api):
    params = {"count": 3, "page": 2, "sort": "updated_at",
              "updated_at": "gte:2024-01-01T00:00:00Z AND lt:2025-01-01T00:00:00+00:00"}
    r, target = _router_get(sb, http, params)
    assert "%3A" in target and "+AND+" in target and "%2B" in target
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_page"].startswith("https://public.americommerce.com/api/v1/orders?")
    assert body["orders"] == api.ok("orders", params)["orders"]


def test_router_signature_rejected(sb, http):
    params = {"count": 2, "updated_at": "gte:2024-01-01T00:00:00Z"}
    for kw in (dict(secret="not-the-secret"), dict(user="someone-else"), dict(site="999"),
               dict(drop="X-AC-PUB-Auth-Signature"), dict(drop="X-AC-PUB-User"),
               dict(drop="X-AC-PUB-Site-ID"),
               # signing a decoded / re-encoded target instead of the raw one
               dict(tamper=lambda t: t.replace("%3A", ":")),
               dict(tamper=lambda t: t.split("?")[0])):
        r, _ = _router_get(sb, http, params, **kw)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED, kw


def test_router_credentials_do_not_work_on_a_store_host(sb, http):
    target = "/api/v1/orders?count=1"
    headers = {"X-AC-PUB-Site-ID": sb.site_id, "X-AC-PUB-User": sb.router_user,
               "X-AC-PUB-Auth-Signature": sign(sb.router_secret, target, sb.router_user)}
    assert http.get(sb.router_url + target, headers=headers).status_code == 200
    assert http.get(sb.store_url + target, headers=headers).status_code == 401


def test_harness_router_headers_match(sb, http):
    target = "/api/v1/customers?count=1&page=1"
    r = http.get(sb.router_url + target, headers=sb.router_headers(target))
    assert r.status_code == 200 and len(r.json()["customers"]) == 1
