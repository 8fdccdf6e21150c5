"""The cluster CA: certificates it issues verify, others do not; keys stay 0600; mTLS
contexts accept only the cluster CA's certificates."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hosted_engine.errors import PkiError
from hosted_engine.pki import (
    CertificateAuthority,
    client_context,
    make_csr,
    new_key,
    read_certificate,
    rotate_host_certificate,
    server_context,
    verify_certificate,
    write_key_pair,
)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def san(cert: x509.Certificate) -> list[object]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [name.value for name in ext]


def test_create_writes_a_0600_key_and_load_reads_it(ca: CertificateAuthority) -> None:
    assert stat.S_IMODE((ca.directory / "ca.key").stat().st_mode) == 0o600
    loaded = CertificateAuthority.load(ca.directory)
    assert loaded.certificate == ca.certificate
    with pytest.raises(PkiError, match="already holds a CA"):
        CertificateAuthority.create(ca.directory)


def test_load_refuses_a_key_of_another_ca(ca: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority.create(tmp_path / "other")
    (ca.directory / "ca.key").write_bytes((other.directory / "ca.key").read_bytes())
    with pytest.raises(PkiError, match="does not match"):
        CertificateAuthority.load(ca.directory)
    with pytest.raises(PkiError, match="cannot read"):
        CertificateAuthority.load(tmp_path / "nowhere")


def test_host_certificates_name_the_address_and_serve_and_connect(
    ca: CertificateAuthority,
) -> None:
    by_ip = ca.issue_host("192.0.2.7").certificate
    assert san(by_ip) == [ipaddress.ip_address("192.0.2.7")]
    by_name = ca.issue_host("host1.example.com").certificate
    assert san(by_name) == ["host1.example.com"]
    assert usages(by_name) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    verify_certificate(by_name, ca.certificate)
    with pytest.raises(PkiError, match="not a host address"):
        ca.issue_host("bad name!")


def test_client_certificates_are_for_clients_only(ca: CertificateAuthority) -> None:
    cert = ca.issue_client("manager").certificate
    assert usages(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    verify_certificate(cert, ca.certificate)


def test_a_csr_is_signed_for_the_address_the_ca_decides(ca: CertificateAuthority) -> None:
    key = new_key()
    cert = ca.sign_csr(make_csr(key, "10.0.0.5"), "10.0.0.6")
    assert san(cert) == [ipaddress.ip_address("10.0.0.6")]
    assert cert.public_key() == key.public_key()
    with pytest.raises(PkiError, match="not a certificate request"):
        ca.sign_csr(b"garbage", "10.0.0.6")


def test_verification_says_why(ca: CertificateAuthority, tmp_path: Path) -> None:
    other = CertificateAuthority.create(tmp_path / "other")
    foreign = other.issue_host("10.0.0.1").certificate
    with pytest.raises(PkiError, match="not this CA"):
        verify_certificate(foreign, ca.certificate)
    # same name, other key: the signature gives it away
    twin = CertificateAuthority.create(tmp_path / "twin", name="hosted-engine cluster CA")
    with pytest.raises(PkiError, match="signature"):
        verify_certificate(twin.issue_host("10.0.0.1").certificate, ca.certificate)
    cert = ca.issue_host("10.0.0.1", days=1).certificate
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    with pytest.raises(PkiError, match="expired"):
        verify_certificate(cert, ca.certificate, now=later)
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    with pytest.raises(PkiError, match="not valid before"):
        verify_certificate(cert, ca.certificate, now=earlier)


def test_rotation_replaces_key_and_certificate(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "host.pem", tmp_path / "host.key"
    first = ca.issue_host("10.0.0.1")
    write_key_pair(first, cert_path, key_path)
    second = rotate_host_certificate(ca, "10.0.0.1", cert_path, key_path)
    assert read_certificate(cert_path) == second.certificate != first.certificate
    assert key_path.read_bytes() == second.key_pem != first.key_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.tmp.*"))


def _files(pair_dir: Path, pair: object, name: str) -> tuple[Path, Path]:
    from hosted_engine.pki import KeyPair

    assert isinstance(pair, KeyPair)
    cert, key = pair_dir / f"{name}.pem", pair_dir / f"{name}.key"
    write_key_pair(pair, cert, key)
    return cert, key


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    """Connect over a socket pair; the server's error, or None when both sides agree."""
    a, b = socket.socketpair()
    error: list[str] = []

    def serve() -> None:
        try:
            with server.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as e:
            error.append(str(e))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(b, server_hostname="127.0.0.1") as c:
            c.sendall(b"x")
    except (ssl.SSLError, OSError) as e:
        error.append(str(e))
    thread.join(10)
    return error[0] if error else None


def test_contexts_accept_only_the_cluster_ca(ca: CertificateAuthority, tmp_path: Path) -> None:
    host_cert, host_key = _files(tmp_path, ca.issue_host("127.0.0.1"), "host")
    mgr_cert, mgr_key = _files(tmp_path, ca.issue_client("manager"), "manager")
    other = CertificateAuthority.create(tmp_path / "other")
    bad_cert, bad_key = _files(tmp_path, other.issue_client("manager"), "intruder")
    server = server_context(ca.cert_path, host_cert, host_key)
    assert _handshake(server, client_context(ca.cert_path, mgr_cert, mgr_key)) is None
    assert _handshake(server, client_context(other.cert_path, bad_cert, bad_key)) is not None
    with pytest.raises(PkiError, match="cannot load"):
        client_context(ca.cert_path, mgr_cert, tmp_path / "missing.key")
