"""``ssl.SSLContext``s for mutual TLS inside the cluster: only the cluster CA is trusted,
in both directions, so neither a stray client nor a stray server is ever talked to."""

from __future__ import annotations

import ssl
from pathlib import Path

from hosted_engine.errors import PkiError


def _load(context: ssl.SSLContext, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    try:
        context.load_verify_locations(cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise PkiError(f"cannot load the TLS files ({cert}, {key}, {ca}): {e}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A server that refuses any client without a certificate of the cluster CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    return _load(context, Path(ca), Path(cert), Path(key))


def client_context(
    ca: Path, cert: Path, key: Path, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """A client trusting only the cluster CA, presenting ``cert``. Host names are checked
    against the SAN (a host's address) unless ``check_hostname`` is off."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return _load(context, Path(ca), Path(cert), Path(key))
