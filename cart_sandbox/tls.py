"""TLS material from a throw-away trustme CA: the CA file clients trust, and the server cert."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1", "public.americommerce.com", "sandbox.test",
                     "*.sandbox.test")


@dataclass(frozen=True)
class TLSFiles:
    ca_file: str  # PEM of the CA: point REQUESTS_CA_BUNDLE here
    cert_file: str  # server certificate chain
    key_file: str  # server private key


def make_tls(directory: str, hostnames: tuple[str, ...] | list[str] = DEFAULT_HOSTNAMES,
             extra_hostnames: tuple[str, ...] | list[str] = ()) -> TLSFiles:
    """Create a CA and a server certificate for ``hostnames`` and write them under directory."""
    import trustme

    os.makedirs(directory, exist_ok=True)
    names = list(dict.fromkeys([*hostnames, *extra_hostnames]))
    ca = trustme.CA(organization_name="Cart.com Sandbox", organization_unit_name="cart-sandbox")
    cert = ca.issue_cert(*names, organization_name="Cart.com Sandbox")
    files = TLSFiles(ca_file=os.path.join(directory, "sandbox-ca.pem"),
                     cert_file=os.path.join(directory, "sandbox-server.pem"),
                     key_file=os.path.join(directory, "sandbox-server.key"))
    ca.cert_pem.write_to_path(files.ca_file)
    with open(files.cert_file, "wb") as fh:
        for pem in cert.cert_chain_pems:
            fh.write(pem.bytes())
    cert.private_key_pem.write_to_path(files.key_file)
    return files
