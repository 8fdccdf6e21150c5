"""The firewall plugin loads its table with the real ``nft``, inside a private network
namespace the test makes: our table has the ports, a re-run does not duplicate them, and
the machine's own ruleset is left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hosted_engine.deploy import keys

from .helpers import Host

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
    reason="needs root, nft and ip to make a network namespace",
)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"he-hostdeploy-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def _in(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=60
    )


def test_the_table_is_loaded_in_the_namespace_only(tmp_path: Path, netns: str) -> None:
    host = Host(tmp_path)
    host_ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True)
    argv = host.argv(
        "VDSM/certificateEnrollment=str:none",
        "NETWORK/nftablesEnable=bool:True",
        "NETWORK/firewallPorts=multi-str:22/tcp",
        "APPEND:NETWORK/firewallPorts=multi-str:54323/tcp",
        "APPEND:NETWORK/firewallPorts=multi-str:6081/udp",
    )
    for _ in range(2):  # the second run replaces the table: no duplicate rules
        done = _in(netns, *argv)
        assert done.returncode == 0, done.stderr
        assert "Firewall: ports 22/tcp, 54323/tcp, 6081/udp" in done.stdout
    table = _in(netns, "nft", "list", "table", "inet", keys.FIREWALL_TABLE)
    assert table.returncode == 0, table.stderr
    rules = [line.strip() for line in table.stdout.splitlines()]
    for rule in ("tcp dport 22 accept", "tcp dport 54323 accept", "udp dport 6081 accept"):
        assert rules.count(rule) == 1, table.stdout
    assert any("policy accept" in rule for rule in rules)
    after = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True)
    assert after.stdout == host_ruleset.stdout
    assert keys.FIREWALL_TABLE not in after.stdout
