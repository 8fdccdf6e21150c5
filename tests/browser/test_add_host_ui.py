"""New Host and Undeploy in a real chromium against a real manager server (HTTP on
127.0.0.1) that deploys the host-deploy bundle over a real sshd: the rig of
tests/manager/add_host_rig.py, with runs held at their first service call until the
test opens the gate, so "live" is seen, not assumed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.deploy import keys
from tests.installer.sshd import SshServer
from tests.manager.add_host_rig import SD_UUID, Rig, make_rig, manager_sshd, serving


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, Path]]:
    with manager_sshd(tmp_path_factory.mktemp("sshd")) as found:
        yield found


@pytest.fixture
def manager(tmp_path: Path, sshd: tuple[SshServer, Path]) -> Iterator[tuple[Rig, str]]:
    rig = make_rig(tmp_path, *sshd, gated=True)
    try:
        with serving(rig.app) as url:
            yield rig, url
    finally:
        rig.close()


def test_new_host_live_to_complete_then_undeploy(page: Any, manager: tuple[Rig, str]) -> None:
    rig, url = manager
    page.goto(url + "login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(rig.password)
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(re.compile(r"/hosts$"))
    page.get_by_role("link", name="New").click()
    page.wait_for_url(re.compile(r"/hosts/add$"))

    page.get_by_label("Name", exact=True).fill("host1.lab")
    page.get_by_label("Hostname/IP").fill("127.0.0.1")
    page.get_by_label("SSH Port").fill(str(rig.server.port))
    page.get_by_label("Host ID").fill("1")
    page.get_by_label("Host API port").fill(str(rig.hostd_port))
    config = f"sdUUID={SD_UUID}\nstorage={rig.host.storage}\nhostname=localhost"
    page.get_by_label("Configuration").fill(config)
    page.get_by_role("button", name="OK", exact=True).click()

    # the fingerprint first, and nothing runs until it is confirmed
    page.locator("#fingerprint").wait_for(state="visible")
    assert page.locator("#fingerprint-value").inner_text() == rig.fingerprint
    assert rig.add_host.deploys == {}
    page.get_by_role("button", name="Confirm and deploy").click()

    # live: progress shows while the run is held on the host, with no outcome yet
    progress = page.locator("#progress li")
    progress.filter(has_text="Sending the host-deploy bundle").wait_for()
    assert page.locator("#outcome").inner_text() == ""
    assert [d.status for d in rig.add_host.deploys.values()] == ["running"]
    rig.open_gate()
    page.locator("#outcome").filter(has_text="Complete").wait_for(timeout=60_000)
    assert progress.count() > 5
    assert rig.host.path(keys.CONFIG_FILE).exists()

    # the host is in the Hosts list with its HA status
    page.get_by_role("link", name="Back to Hosts").click()
    row = page.locator("#hosts tbody tr").filter(has_text="host1.lab")
    row.filter(has_text=re.compile(r"Hosted Engine HA: Active \(Score: \d+\)")).wait_for()

    # Undeploy, confirmed, followed live; Complete takes the host off the list
    rig.host.set_status(1, 2)  # the group refuses the last host: another one is there
    row.get_by_role("button", name="Undeploy").click()
    dialog = page.locator("#undeploy")
    dialog.wait_for(state="visible")
    assert "Undeploy hosted engine from host host1.lab?" in dialog.inner_text()
    dialog.get_by_role("button", name="OK", exact=True).click()
    page.locator("#outcome").filter(has_text="Complete").wait_for(timeout=60_000)
    assert page.locator("#progress li").count() > 1
    row.wait_for(state="detached")
    assert page.locator("#hosts tbody tr").count() == 0
    assert not rig.host.path(keys.CONFIG_FILE).exists()
    assert rig.db.hosts() == []
