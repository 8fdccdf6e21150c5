"""The whole group on a host under tmp_path, driven like the manager drives it (machine
dialect): enrollment signed by a real CA, SSH trust, the firewall file, the conf, the
services in order; a re-run changes nothing and passes through local maintenance."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hosted_engine.deploy import keys
from hosted_engine.installer.dialogs.client import (
    DisplayMultiString,
    MachineDialogClient,
)
from hosted_engine.pki import CertificateAuthority

from .helpers import Host, ssh_public_key, verify_with_openssl

SignFactory = Callable[[MachineDialogClient], dict[str, object]]


async def _drive(
    host: Host, args: list[str], answers: Callable[[MachineDialogClient], dict[str, object]]
) -> tuple[int, str, MachineDialogClient]:
    process = await asyncio.create_subprocess_exec(
        *host.argv("DIALOG/dialect=str:machine", *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    stderr = asyncio.create_task(process.stderr.read())
    client = MachineDialogClient.over_streams(process.stdout, process.stdin, binary=True)
    client.answers.update(answers(client))
    try:
        await asyncio.wait_for(client.finish(), 30)
    finally:
        process.stdin.close()
        code = await asyncio.wait_for(process.wait(), 30)
    return code, (await stderr).decode(), client


def drive(
    host: Host, args: list[str], answers: Callable[[MachineDialogClient], dict[str, object]]
) -> tuple[int, str, MachineDialogClient]:
    """One run as the manager drives it; ``answers`` may look at the client's transcript."""
    return asyncio.run(_drive(host, args, answers))


def signer(ca: CertificateAuthority, address: str, chains: list[list[str]]) -> SignFactory:
    """Answers the chain query by signing the CSR the run showed, as the manager does."""

    def answers(client: MachineDialogClient) -> dict[str, object]:
        def sign(_query: object) -> list[str]:
            shown = [e for e in client.transcript if isinstance(e, DisplayMultiString)]
            request = next(e for e in shown if e.name == keys.DIALOG_CERT_REQUEST)
            cert = ca.sign_csr("\n".join(request.lines).encode(), address)
            pems = [c.public_bytes(Encoding.PEM).decode() for c in (ca.certificate, cert)]
            chains.append("".join(pems).splitlines())
            return chains[-1]

        return {keys.DIALOG_CERT_CHAIN: sign}

    return answers


def test_deploy_then_rerun_changes_nothing(tmp_path: Path) -> None:
    host = Host(tmp_path)
    ca = CertificateAuthority.create(tmp_path / "ca")
    ssh_key = ssh_public_key()
    args = [
        "NETWORK/sshEnable=bool:True",
        f"NETWORK/sshKey=str:{ssh_key}",
        "NETWORK/nftablesEnable=bool:True",
        "NETWORK/nftablesApply=bool:False",
        "APPEND:NETWORK/firewallPorts=multi-str:9310/tcp",
        "VDSM/certificateAddress=str:host1.example.test",
        f"HOST_DEPLOY/managerTime=int:{1}",  # decades of skew: a warning, not a failure
    ]
    chains: list[list[str]] = []
    code, stderr, client = drive(host, args, signer(ca, "host1.example.test", chains))
    assert code == 0, stderr

    # the files, with their modes
    pki = Path(host.path(keys.PKI_DIR))
    verify_with_openssl(pki / "ca.pem", pki / "host.pem")
    issued = x509.load_pem_x509_certificate((pki / "host.pem").read_bytes())
    assert issued.issuer == ca.certificate.subject
    assert stat.S_IMODE((pki / "host.key").stat().st_mode) == 0o600
    conf = host.path(keys.CONFIG_FILE).read_text()
    assert "host_id=1\n" in conf and f"storage={host.storage}\n" in conf
    authorized = host.path("/root/.ssh/authorized_keys")
    assert authorized.read_text() == ssh_key + "\n"
    assert stat.S_IMODE(authorized.stat().st_mode) == 0o600
    assert stat.S_IMODE(authorized.parent.stat().st_mode) == 0o700
    nft = host.path(keys.FIREWALL_FILE).read_text()
    for port in ("22", "9310"):
        assert f"tcp dport {port} accept" in nft
    # services: all three (a certificate exists), broker first, agent last
    starts = [c.split()[1] for c in host.service_calls() if c.startswith("start ")]
    assert starts == list(keys.SERVICES)
    assert host.running() == set(keys.SERVICES)
    assert host.he_calls() == []  # first deploy: no daemons ran, no maintenance
    warnings = client.logs("WARNING")
    assert any("Clock: this host" in w and "manager 1970-01-01T00:00:01Z" in w for w in warnings)

    # a re-run with the same answers: same bytes, same mtimes, no backups, no restarts
    before = host.files()
    calls_before = len(host.service_calls())
    code, stderr, _ = drive(host, args, lambda _: {keys.DIALOG_CERT_CHAIN: chains[0]})
    assert code == 0, stderr
    assert host.files() == before
    new_calls = host.service_calls()[calls_before:]
    assert not [c for c in new_calls if c.startswith(("start", "restart"))]
    # the daemons ran: the re-deploy went through local maintenance, off at the commit
    assert host.he_calls() == ["--set-maintenance --mode=local", "--set-maintenance --mode=none"]
