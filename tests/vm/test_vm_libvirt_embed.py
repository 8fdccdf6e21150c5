"""A domain from OUR XML really runs under ``qemu:///embed`` (QEMU with TCG, no guest OS).

The embedded driver keeps all its state under ``root`` (here in tmp_path) and needs no
daemon. No guest answers ACPI, so a graceful shutdown must end in a destroy after the
grace: that is the path this test proves.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from vm_helpers import wait_until

from hosted_engine.locking.fcntl_backend import FcntlLeaseManager
from hosted_engine.vm.base import ExitReason, Started, StopResult, VmState
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.libvirt_xml import XmlSettings

libvirt = pytest.importorskip("libvirt", reason="python3-libvirt is not importable")
QEMU = shutil.which("qemu-system-x86_64")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")

from hosted_engine.vm.libvirt_backend import EventLoop, LibvirtVmBackend  # noqa: E402

QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
stdio_handler = "file"
security_driver = "none"
"""


@pytest.fixture
def embed(tmp_path: Path) -> Iterator[LibvirtVmBackend]:
    root = tmp_path / "e"  # UNIX socket paths under it must stay under 108 bytes
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "qemu.conf").write_text(QEMU_CONF)
    settings = XmlSettings(domain_type="qemu", emulator=QEMU)
    backend = LibvirtVmBackend(
        f"qemu:///embed?root={root}", FcntlLeaseManager(tmp_path / "lockspace"), 1, "h1", settings
    )
    yield backend
    backend.poweroff()
    conn = backend._conn
    for domain in conn.listAllDomains():
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    backend.close()
    EventLoop.get().stop()


def test_embed(embed: LibvirtVmBackend) -> None:
    """A TCG guest starts, and a shutdown nobody answers ends in a destroy after the grace."""
    vm = VmDefinition(vm_id="engine", name="he", mem_size_mib=64)

    began = time.monotonic()
    result = embed.start(vm)
    started_in = time.monotonic() - began

    assert isinstance(result, Started), result
    assert embed.status().state is VmState.UP
    assert embed.stats() is not None

    asked = time.monotonic()
    assert embed.shutdown(0.5) is StopResult.DONE
    wait_until(lambda: embed.status().state is VmState.DOWN, 20, "the domain to go down")
    stopped_in = time.monotonic() - asked

    status = embed.status()
    assert status.exit_reason is ExitReason.POWEROFF, status
    assert "grace" in status.message
    assert embed.leases.vm_lease_holder("engine") is None
    print(f"embed start {started_in:.2f} s, shutdown+destroy {stopped_in:.2f} s")
