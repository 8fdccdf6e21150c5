"""Enrolls the host's certificate inline, over the deploy dialog (ovirt-host-deploy's mode).

The host makes its own EC P-256 key, so the private key never leaves it, and shows only
a CSR; the cluster CA signs it elsewhere (the manager, or the first host's setup in the
same run) and hands back CA + host certificate. Everything is done with the ``openssl``
program because a bundle has no Python crypto library. Before anything is written, the
chain is checked: the host certificate must verify against the CA given with it and
carry our key, so a chain for another request or from another CA is refused by name.

An existing key (a re-deploy) is reused: the host keeps its identity and, given the same
chain, nothing changes on disk.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Stage, event

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


def split_chain(text: str) -> list[str]:
    """The certificates of ``text`` as clean PEM (bodies re-wrapped: a chain may arrive
    flattened onto one line, since outside values cannot hold line breaks)."""
    found = []
    for body in PEM_CERT.findall(text):
        data = "".join(body.split())
        wrapped = "\n".join(data[i : i + 64] for i in range(0, len(data), 64))
        found.append(f"-----BEGIN CERTIFICATE-----\n{wrapped}\n-----END CERTIFICATE-----\n")
    return found


class Pki(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(
            keys.ACTION,
            keys.ENROLLMENT,
            keys.CERT_ADDRESS,
            keys.CERT_REQUEST,
            keys.CERT_CHAIN,
            keys.CONFIG_KEYS["hostname"],
        )
        self.commands.detect("openssl")
        self._key_pem: str | None = None
        self._work: tempfile.TemporaryDirectory[str] | None = None

    def _inline(self) -> bool:
        return (
            self.environment[keys.ACTION] == "deploy"
            and self.environment[keys.ENROLLMENT] == "inline"
        )

    def _openssl(self, *args: str, input: str | None = None) -> list[str]:
        done = self.execute([self.commands.require("openssl"), *args], check=False, input=input)
        if done.rc != 0:
            said = " ".join(line.strip() for line in done.stderr if line.strip())
            raise HostDeployError(f"openssl {args[0]} failed (rc={done.rc}): {said or 'no output'}")
        return list(done.stdout)

    def _scratch(self, name: str, text: str) -> str:
        """A private (0700 directory, 0600 file) copy for openssl, gone at CLEANUP."""
        if self._work is None:
            self._work = tempfile.TemporaryDirectory(prefix="he-host-pki-")
        path = os.path.join(self._work.name, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def _address(self) -> str:
        return (
            self.environment[keys.CERT_ADDRESS]
            or self.environment[keys.CONFIG_KEYS["hostname"]]
            or socket.gethostname()
        )

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.pki.validate",
        condition=lambda self: self._inline(),
    )
    def validate(self) -> None:
        self.commands.require("openssl")

    @event(stage=Stage.MISC, name=keys.PKI_REQUEST_EVENT, condition=lambda self: self._inline())
    def request(self) -> None:
        existing = self.resolve(keys.KEY_FILE)
        if os.path.isfile(existing):
            with open(existing, encoding="ascii") as f:
                self._key_pem = f.read()
            self.dialog.note(f"PKI: reusing this host's key {keys.KEY_FILE}")
        else:
            self.dialog.note("PKI: making this host's EC P-256 key")
            lines = self._openssl(
                "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"
            )
            self._key_pem = "\n".join(lines) + "\n"
        key_path = self._scratch("host.key", self._key_pem)
        address = self._address()
        csr = self._openssl("req", "-new", "-key", key_path, "-subj", f"/CN={address}")
        self.environment[keys.CERT_REQUEST] = "\n".join(csr) + "\n"
        self.dialog.note(f"PKI: certificate request for {address}")
        self.dialog.display_multi_string(keys.DIALOG_CERT_REQUEST, csr)

    @event(
        stage=Stage.MISC,
        name=keys.PKI_INSTALL_EVENT,
        after=(keys.PKI_REQUEST_EVENT,),
        condition=lambda self: self._inline(),
    )
    def install(self) -> None:
        assert self._key_pem is not None
        chain = self.environment[keys.CERT_CHAIN]
        if chain is None:
            lines = self.dialog.query_multi_string(
                keys.DIALOG_CERT_CHAIN,
                "Please paste the CA certificate, then this host's certificate (PEM):",
            )
            chain = "\n".join(lines)
        ca_pem, host_pem = self._check_chain(chain)
        self.dialog.note(f"PKI: installing {keys.CA_FILE}, {keys.CERT_FILE}, {keys.KEY_FILE}")
        self.write_file(keys.CA_FILE, ca_pem, mode=0o644)
        self.write_file(keys.CERT_FILE, host_pem, mode=0o644)
        self.write_file(keys.KEY_FILE, self._key_pem, mode=0o600, enforce_permissions=True)

    def _check_chain(self, chain: str) -> tuple[str, str]:
        what = keys.CERT_CHAIN.name
        certs = split_chain(chain)
        if len(certs) != 2:
            raise HostDeployError(
                f"{what}: want 2 PEM certificates (the CA, then this host's), got {len(certs)}"
            )
        assert self._key_pem is not None
        ours = self._openssl("pkey", "-pubout", input=self._key_pem)
        carried = [self._openssl("x509", "-noout", "-pubkey", input=c) for c in certs]
        if carried[1] == ours:
            ca_pem, host_pem = certs
        elif carried[0] == ours:
            host_pem, ca_pem = certs  # given the other way round: still unambiguous
        else:
            raise HostDeployError(
                f"{what}: neither certificate carries this host's key: the CA signed "
                "another request; send the request shown in this run"
            )
        ca_path = self._scratch("ca.pem", ca_pem)
        host_path = self._scratch("host.pem", host_pem)
        done = self.execute(
            [self.commands.require("openssl"), "verify", "-CAfile", ca_path, host_path],
            check=False,
        )
        if done.rc != 0:
            said = " ".join(line.strip() for line in (*done.stdout, *done.stderr) if line.strip())
            raise HostDeployError(
                f"{what}: the host certificate does not verify against the CA given with it "
                f"({said}): send the cluster CA's certificate with it"
            )
        return ca_pem, host_pem

    @event(stage=Stage.CLEANUP, name="hosted-engine-host-deploy.pki.cleanup")
    def cleanup(self) -> None:
        if self._work is not None:
            self._work.cleanup()
            self._work = None


def create_plugins(context: Context) -> None:
    Pki(context)
