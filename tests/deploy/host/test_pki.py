"""Enrollment with a driver in the same run (the first host's setup): it signs between the
two PKI events and sets the chain; a chain for another key or from another CA is refused
by name with nothing written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hosted_engine.deploy import keys
from hosted_engine.pki import CertificateAuthority

from .helpers import Host, Outcome, verify_with_openssl

# Signs the CSR with the CA in TEST/caDir; TEST/mode spoils the chain on purpose.
SIGNER = """
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from hosted_engine.deploy import keys
from hosted_engine.installer import STR, Plugin, Stage, event, key
from hosted_engine.pki import CertificateAuthority

CA_DIR = key("TEST/caDir", STR)
MODE = key("TEST/mode", STR, "good")


class Signer(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(CA_DIR, MODE, keys.CERT_REQUEST, keys.CERT_CHAIN)

    @event(
        stage=Stage.MISC,
        after=(keys.PKI_REQUEST_EVENT,),
        before=(keys.PKI_INSTALL_EVENT,),
    )
    def sign(self):
        ca = CertificateAuthority.load(Path(self.environment[CA_DIR]))
        mode = self.environment[MODE]
        if mode == "other-key":
            cert = ca.issue_host("host1").certificate
        else:
            cert = ca.sign_csr(self.environment[keys.CERT_REQUEST].encode(), "host1")
        issuer = ca
        if mode == "other-ca":
            issuer = CertificateAuthority.create(Path(self.environment[CA_DIR]) / "other")
        pems = [c.public_bytes(Encoding.PEM).decode() for c in (issuer.certificate, cert)]
        self.environment[keys.CERT_CHAIN] = "".join(pems)


def create_plugins(context):
    Signer(context)
"""


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Path, Path]:
    package = tmp_path / "plugins" / "signer" / "signer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(SIGNER))
    CertificateAuthority.create(tmp_path / "ca")
    return tmp_path / "plugins", tmp_path / "ca"


def _run(
    host: Host, signer: tuple[Path, Path], capsys: pytest.CaptureFixture[str], mode: str
) -> Outcome:
    plugins, ca = signer
    return host.run(
        f"APPEND:BASE/pluginPath=str:{plugins}",
        "APPEND:BASE/pluginGroups=str:signer",
        f"TEST/caDir=str:{ca}",
        f"TEST/mode=str:{mode}",
        capsys=capsys,
    )


def test_a_driver_in_the_same_run_signs(
    tmp_path: Path, signer: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host(tmp_path)
    outcome = _run(host, signer, capsys, "good")
    assert outcome.code == 0, outcome.stderr
    pki = host.path(keys.PKI_DIR)
    verify_with_openssl(pki / "ca.pem", pki / "host.pem")
    assert "-----BEGIN CERTIFICATE REQUEST-----" in outcome.stdout  # the CSR was shown
    assert "hosted-engine-hostd" in host.running()  # a certificate: hostd starts too


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("other-key", "neither certificate carries this host's key"),
        ("other-ca", "the host certificate does not verify against the CA given with it"),
    ],
)
def test_a_wrong_chain_is_refused(
    tmp_path: Path,
    signer: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    mode: str,
    message: str,
) -> None:
    host = Host(tmp_path)
    outcome = _run(host, signer, capsys, mode)
    assert outcome.code == 1
    (line,) = [x for x in outcome.stderr.splitlines() if x.strip()]
    assert f"{keys.CERT_CHAIN.name}: {message}" in line
    assert host.files() == {}
