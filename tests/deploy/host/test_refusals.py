"""Bad answers stop the run at validation (or before it) with one line naming the problem,
and an abort in MISC rolls back every file, leaving local maintenance on."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.deploy import keys

from .helpers import Host, ssh_public_key, write_failing_group

NO_PKI = "VDSM/certificateEnrollment=str:none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["HOSTED_ENGINE_CONFIG/hostnam=str:h1"],
            "HOSTED_ENGINE_CONFIG/hostnam",
        ),
        (
            [
                "NETWORK/nftablesEnable=bool:True",
                "APPEND:NETWORK/firewallPorts=multi-str:99999/tcp",
            ],
            "NETWORK/firewallPorts: port 99999 in '99999/tcp' is not in 1..65535",
        ),
        (
            ["NETWORK/nftablesEnable=bool:True", "APPEND:NETWORK/firewallPorts=multi-str:80/sctp"],
            "'80/sctp' is not PORT/tcp or PORT/udp",
        ),
        (
            ["NETWORK/sshEnable=bool:True", "NETWORK/sshKey=str:ssh-rsa AAAAnotakey x@y"],
            "NETWORK/sshKey: the ssh-rsa key's data is not valid base64",
        ),
        (
            ["NETWORK/sshEnable=bool:True", "NETWORK/sshKey=str:AAAAC3NzaC1lZDI1NTE5 x@y"],
            "NETWORK/sshKey: no known key type",
        ),
        (
            ["HOSTED_ENGINE_CONFIG/storage=str:/srv/nowhere"],
            "storage path /srv/nowhere does not exist: mount the storage domain there first",
        ),
        (
            ["HOST_DEPLOY/hostdPort=int:99999"],
            "HOST_DEPLOY/hostdPort: a port must be 1..65535 (got 99999)",
        ),
        (
            ["HOSTED_ENGINE_CONFIG/host_id=str:0"],
            "HOSTED_ENGINE_CONFIG/host_id: '0' is not a host id 1..250",
        ),
    ],
    ids=[
        "unknown-key",
        "port-range",
        "port-proto",
        "ssh-base64",
        "ssh-type",
        "storage",
        "hostd-port",
        "host-id",
    ],
)
def test_a_bad_answer_stops_with_one_line_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    host = Host(tmp_path)
    outcome = host.run(NO_PKI, *args, capsys=capsys)
    assert outcome.code == 1
    error = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(error) == 1 and message in error[0], outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert host.files() == {}
    assert not host.path("/root/.ssh").exists()
    assert not [c for c in host.service_calls() if not c.startswith(("exists", "status"))]


def test_every_preflight_failure_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host(tmp_path)
    outcome = host.run(
        NO_PKI,
        "HOSTED_ENGINE_CONFIG/storage=str:/srv/nowhere",
        "HOSTED_ENGINE_CONFIG/hostname=str:no-such-host.invalid",
        "HOST_DEPLOY/minMemoryMB=int:100000000",
        capsys=capsys,
    )
    assert outcome.code == 1
    (line,) = [x for x in outcome.stderr.splitlines() if x.strip()]
    assert "3 preflight check(s) failed" in line
    assert "preflight memory:" in line and "lower HOST_DEPLOY/minMemoryMB" in line
    assert "preflight hostname: hostname 'no-such-host.invalid' does not resolve" in line
    assert "to /etc/hosts" in line
    assert "preflight storage: storage path /srv/nowhere does not exist" in line
    assert host.files() == {}


def test_a_busy_port_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    host = Host(tmp_path)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        outcome = host.run(NO_PKI, f"HOST_DEPLOY/hostdPort=int:{port}", capsys=capsys)
    assert outcome.code == 1
    assert f"preflight ports: hostd port 0.0.0.0:{port} is in use" in outcome.stderr


def test_an_abort_in_misc_rolls_every_file_back_and_keeps_maintenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host(tmp_path)
    old_conf = "host_id=1\nsdUUID=old\nstorage=/srv/storage\n"
    conf = host.path(keys.CONFIG_FILE)
    conf.parent.mkdir(parents=True)
    conf.write_text(old_conf)
    host.set_running(*keys.SERVICES)  # a re-deploy of a running host
    before = host.files()
    plugins = write_failing_group(tmp_path / "plugins")
    outcome = host.run(
        NO_PKI,
        "NETWORK/sshEnable=bool:True",
        f"NETWORK/sshKey=str:{ssh_public_key()}",
        "NETWORK/nftablesEnable=bool:True",
        "NETWORK/nftablesApply=bool:False",
        f"APPEND:BASE/pluginPath=str:{plugins}",
        "APPEND:BASE/pluginGroups=str:failing",
        capsys=capsys,
    )
    assert outcome.code == 1
    assert "injected failure at MISC" in outcome.stderr
    assert host.files() == before
    assert not host.path("/root/.ssh/authorized_keys").exists()
    assert not list(conf.parent.glob(".*.tmp"))
    # local maintenance went on and, the run having failed, stays on
    assert host.he_calls() == ["--set-maintenance --mode=local"]
    assert "Local maintenance stays on because the deploy failed" in outcome.stdout
    assert not [c for c in host.service_calls() if c.startswith(("start", "restart", "stop"))]
