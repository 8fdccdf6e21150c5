"""The cluster's PKI: one CA, host certificates, the manager's client certificates.

Hosts and the manager trust only this CA, so a certificate from anywhere else never
opens a host API. EC P-256 keys: small and fast to make, which the lab and tests need.
"""

from hosted_engine.pki.ca import (
    CertificateAuthority,
    KeyPair,
    make_csr,
    new_key,
    read_certificate,
    rotate_host_certificate,
    verify_certificate,
    write_key_pair,
)
from hosted_engine.pki.tls import client_context, server_context

__all__ = [
    "CertificateAuthority",
    "KeyPair",
    "client_context",
    "make_csr",
    "new_key",
    "read_certificate",
    "rotate_host_certificate",
    "server_context",
    "verify_certificate",
    "write_key_pair",
]
