"""The cluster CA: create, load, issue host and client certificates, sign CSRs, verify.

Keys never leave their files readable by others (mode 0600, written atomically, so a
reader never sees half a key). A host certificate names the host's address in its SAN
(an IP address as an IP SAN, a name as a DNS SAN): that is what TLS clients check.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hosted_engine.errors import PkiError
from hosted_engine.files.atomic import write_atomically

CA_CERT, CA_KEY = "ca.pem", "ca.key"
CA_DAYS, LEAF_DAYS = 3650, 825
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_BACKDATE = datetime.timedelta(minutes=5)  # a peer's clock a little behind still accepts it


@dataclass(frozen=True)
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    if not common_name or len(common_name) > 64:
        raise PkiError(f"a certificate name must be 1 to 64 characters: {common_name!r}")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(address: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        pass
    if len(address) > 253 or not all(_LABEL.fullmatch(p) for p in address.split(".")):
        raise PkiError(f"not a host address (IP address or DNS name): {address!r}")
    return x509.DNSName(address)


def write_key_pair(pair: KeyPair, cert_path: Path, key_path: Path) -> None:
    """The key first (0600), then the certificate; each replaced whole."""
    try:
        write_atomically(key_path, pair.key_pem, mode=0o600)
        write_atomically(cert_path, pair.cert_pem, mode=0o644)
    except OSError as e:
        raise PkiError(f"cannot write {cert_path} / {key_path}: {e}") from None


def read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise PkiError(f"cannot read the certificate {path}: {e}") from None


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise PkiError(f"cannot read the key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path}: not an EC key")
    return key


def make_csr(key: ec.EllipticCurvePrivateKey, address: str) -> bytes:
    """A host's request (PEM): it keeps its key, the CA only sees this."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(address))
        .add_extension(x509.SubjectAlternativeName([_san(address)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def verify_certificate(
    cert: x509.Certificate, ca_cert: x509.Certificate, now: datetime.datetime | None = None
) -> None:
    """Raise PkiError saying why unless ``cert`` was issued by ``ca_cert`` and is valid now."""
    now = now or datetime.datetime.now(datetime.UTC)
    subject = cert.subject.rfc4514_string()
    if cert.issuer != ca_cert.subject:
        raise PkiError(f"{subject} was issued by {cert.issuer.rfc4514_string()}, not this CA")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError) as e:
        reason = str(e) or "bad signature"
        raise PkiError(f"{subject}: its signature is not this CA's ({reason})") from None
    if now < cert.not_valid_before_utc:
        raise PkiError(f"{subject} is not valid before {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        raise PkiError(f"{subject} expired on {cert.not_valid_after_utc.isoformat()}")


class CertificateAuthority:
    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = Path(directory)
        self.key = key
        self.certificate = cert

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT

    @classmethod
    def create(
        cls, directory: Path, name: str = "hosted-engine cluster CA", days: int = CA_DAYS
    ) -> CertificateAuthority:
        """A new CA in ``directory``; refuses to replace one (its certificates would die)."""
        directory = Path(directory)
        if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
            raise PkiError(f"{directory} already holds a CA")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PkiError(f"cannot create {directory}: {e}") from None
        key = new_key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_key_pair(KeyPair(key, cert), directory / CA_CERT, directory / CA_KEY)
        return cls(directory, key, cert)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        directory = Path(directory)
        cert = read_certificate(directory / CA_CERT)
        key = _read_key(directory / CA_KEY)
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
            raise PkiError(f"{directory}: the CA key does not match its certificate")
        return cls(directory, key, cert)

    def _issue(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        usages: list[x509.ObjectIdentifier],
        san: x509.GeneralName | None,
        days: int,
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_host(self, address: str, days: int = LEAF_DAYS) -> KeyPair:
        """Key and certificate of a host: it serves its host API and is a client too."""
        key = new_key()
        return KeyPair(key, self._host_cert(key.public_key(), address, days))

    def _host_cert(
        self, public_key: ec.EllipticCurvePublicKey, address: str, days: int
    ) -> x509.Certificate:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        return self._issue(_name(address), public_key, usages, _san(address), days)

    def issue_client(self, name: str, days: int = LEAF_DAYS) -> KeyPair:
        """Key and certificate the manager presents to host APIs (clientAuth only)."""
        key = new_key()
        cert = self._issue(
            _name(name), key.public_key(), [ExtendedKeyUsageOID.CLIENT_AUTH], None, days
        )
        return KeyPair(key, cert)

    def sign_csr(self, csr_pem: bytes, address: str, days: int = LEAF_DAYS) -> x509.Certificate:
        """A host certificate for the key in ``csr_pem``, for ``address`` (the CA decides
        the name, whatever the request asks for)."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as e:
            raise PkiError(f"not a certificate request: {e}") from None
        if not csr.is_signature_valid:
            raise PkiError("the certificate request's signature is not valid")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise PkiError("the certificate request is not for an EC key")
        return self._host_cert(public_key, address, days)


def rotate_host_certificate(
    ca: CertificateAuthority, address: str, cert_path: Path, key_path: Path
) -> KeyPair:
    """A new key and certificate for a host, replacing its files; the old certificate
    stops being served at the server's next start (the files are read there)."""
    pair = ca.issue_host(address)
    write_key_pair(pair, Path(cert_path), Path(key_path))
    return pair
