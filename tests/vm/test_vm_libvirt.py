"""The libvirt backend on libvirt's test driver (in-process, no daemon), and its XML.

The test driver shares its domains between connections of one process, like one libvirt
host; two backends on it with one fcntl lockspace are two "hosts" sharing storage. Each
test names its VM uniquely and removes its domains afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from vm_helpers import wait_until

from hosted_engine.locking.fcntl_backend import FcntlLeaseManager
from hosted_engine.vm.base import (
    AlreadyRunning,
    ExitReason,
    LeaseHeld,
    Started,
    StartFailed,
    StopResult,
    VmState,
)
from hosted_engine.vm.definition import Nic, VmDefinition
from hosted_engine.vm.libvirt_xml import (
    METADATA_NS,
    LeaseTarget,
    XmlSettings,
    domain_uuid,
    domain_xml,
)

libvirt = pytest.importorskip("libvirt", reason="python3-libvirt is not importable")

from hosted_engine.vm.libvirt_backend import EventLoop, LibvirtVmBackend  # noqa: E402

URI = "test:///default"
TEST = XmlSettings(domain_type="test")


def full_definition(name: str) -> VmDefinition:
    return VmDefinition(
        vm_id=str(uuid.uuid4()),
        name=name,
        mem_size_mib=2048,
        min_allocated_mem_mib=1024,
        sockets=2,
        cores_per_socket=2,
        threads_per_core=1,
        max_vcpus=8,
        nics=(
            Nic("00:16:3e:00:00:01", "ovirtmgmt", "virtio", True),
            Nic("00:16:3e:00:00:02", "lan", "e1000", False),
        ),
        boot_image_id="img-1",
        cpu_type="qemu64",
        emulated_machine="pc",
        display="vnc",
    )


@pytest.fixture(scope="module", autouse=True)
def event_loop() -> Iterator[None]:
    yield
    EventLoop.get().stop()


@pytest.fixture
def name() -> Iterator[str]:
    vm_name = f"he-{uuid.uuid4().hex[:8]}"
    yield vm_name
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(vm_name)
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    except libvirt.libvirtError:
        pass
    conn.close()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[LibvirtVmBackend, LibvirtVmBackend]]:
    lockspace = tmp_path / "lockspace"
    first = LibvirtVmBackend(URI, FcntlLeaseManager(lockspace), 1, settings=TEST)
    second = LibvirtVmBackend(URI, FcntlLeaseManager(lockspace), 2, settings=TEST)
    yield first, second
    for backend in (first, second):
        backend.poweroff()
        backend.close()


# --- XML ---------------------------------------------------------------------------------------
def test_every_definition_field_lands_in_the_xml(tmp_path: Path) -> None:
    d = full_definition("HostedEngine")
    lease = LeaseTarget("hosted-engine", tmp_path / "leases", 1048576)
    xml = etree.fromstring(domain_xml(d, XmlSettings(images_dir=tmp_path, lease=lease)))

    assert xml.get("type") == "qemu"
    assert xml.findtext("name") == "HostedEngine" and xml.findtext("uuid") == d.vm_id
    assert xml.find("memory").text == "2048" and xml.find("memory").get("unit") == "MiB"
    ns = {"he": METADATA_NS}
    assert xml.findtext("metadata/he:vm/he:minGuaranteedMemoryMb", namespaces=ns) == "1024"
    assert xml.findtext("vcpu") == "8" and xml.find("vcpu").get("current") == "4"
    topology = xml.find("cpu/topology")
    assert (topology.get("sockets"), topology.get("cores"), topology.get("threads")) == (
        "4",
        "2",
        "1",
    )
    assert xml.findtext("cpu/model") == "qemu64"
    assert xml.find("os/type").get("machine") == "pc"
    assert xml.find("devices/disk/source").get("file") == str(tmp_path / "img-1")
    nics = xml.findall("devices/interface")
    assert [n.find("mac").get("address") for n in nics] == [
        "00:16:3e:00:00:01",
        "00:16:3e:00:00:02",
    ]
    assert [n.find("source").get("network") for n in nics] == ["ovirtmgmt", "lan"]
    assert [n.find("model").get("type") for n in nics] == ["virtio", "e1000"]
    assert [n.find("link").get("state") for n in nics] == ["up", "down"]
    assert xml.find("devices/graphics").get("type") == "vnc"
    assert xml.findtext("devices/lease/lockspace") == "hosted-engine"
    assert xml.findtext("devices/lease/key") == d.vm_id
    target = xml.find("devices/lease/target")
    assert target.get("path") == str(tmp_path / "leases") and target.get("offset") == "1048576"


def test_a_non_uuid_vm_id_gives_a_stable_uuid() -> None:
    assert domain_uuid("engine") == domain_uuid("engine") != domain_uuid("other")


def test_the_test_driver_accepts_our_xml(name: str, tmp_path: Path) -> None:
    d = full_definition(name)
    conn = libvirt.open(URI)
    try:
        domain = conn.defineXML(domain_xml(d, XmlSettings(domain_type="test", images_dir=tmp_path)))
        back = etree.fromstring(domain.XMLDesc())
    finally:
        conn.close()
    assert back.findtext("uuid") == d.vm_id
    assert back.findtext("vcpu") == "8"
    assert [m.get("address") for m in back.findall("devices/interface/mac")] == [
        "00:16:3e:00:00:01",
        "00:16:3e:00:00:02",
    ]
    assert int(back.findtext("memory")) == 2048 * 1024  # KiB


# --- behaviour ---------------------------------------------------------------------------------
def test_never_started_is_down_not_started(hosts: tuple[LibvirtVmBackend, ...]) -> None:
    assert hosts[0].status().exit_reason is ExitReason.NOT_STARTED
    assert hosts[0].stats() is None
    assert hosts[0].shutdown(1) is StopResult.NOT_RUNNING


def test_only_one_host_runs_the_vm(hosts: tuple[LibvirtVmBackend, ...], name: str) -> None:
    first, second = hosts
    vm = VmDefinition(vm_id="engine", name=name)

    assert isinstance(first.start(vm), Started)
    result = second.start(vm)

    assert isinstance(result, LeaseHeld) and result.holder and "host 1" in result.holder
    assert second.status().exit_reason is ExitReason.LEASE_HELD
    assert first.status().state is VmState.UP
    assert isinstance(first.start(vm), AlreadyRunning)


def test_shutdown_releases_the_lease(hosts: tuple[LibvirtVmBackend, ...], name: str) -> None:
    first, second = hosts
    vm = VmDefinition(vm_id="engine", name=name, mem_size_mib=256)
    assert isinstance(first.start(vm), Started)
    stats = first.stats()
    assert stats is not None and stats.rss_bytes == 256 * 1024 * 1024

    assert first.shutdown(5) is StopResult.DONE
    status = first.status()

    assert status.state is VmState.DOWN and status.exit_reason is ExitReason.SHUTDOWN
    assert isinstance(second.start(vm), Started)


def test_poweroff_is_down_poweroff_and_wakes_waiters(
    hosts: tuple[LibvirtVmBackend, ...], name: str
) -> None:
    first, _ = hosts
    assert isinstance(first.start(VmDefinition(vm_id="engine", name=name)), Started)
    wait_until(lambda: first.last_event is not None, 30, "the STARTED event")
    first.changed.clear()

    assert first.poweroff() is StopResult.DONE

    assert first.status().exit_reason is ExitReason.POWEROFF
    assert first.changed.wait(5), "no lifecycle event arrived"
    wait_until(
        lambda: (
            first.last_event is not None and first.last_event[0] == libvirt.VIR_DOMAIN_EVENT_STOPPED
        ),
        5,
        "the STOPPED event",
    )
    assert first.poweroff() is StopResult.NOT_RUNNING


def test_a_lost_lease_takes_the_vm_down(tmp_path: Path, name: str) -> None:
    from hosted_engine.locking import MemoryLeaseManager

    leases = MemoryLeaseManager()
    backend = LibvirtVmBackend(URI, leases, 1, settings=TEST)
    try:
        assert isinstance(backend.start(VmDefinition(vm_id="engine", name=name)), Started)
        lease = backend._lease
        assert lease is not None
        lease.lose()  # type: ignore[attr-defined]

        assert backend.status().exit_reason is ExitReason.CRASHED
        assert not libvirt.open(URI).lookupByName(name).isActive()
    finally:
        backend.close()


def test_a_definition_libvirt_refuses_is_start_failed(hosts: tuple[LibvirtVmBackend, ...]) -> None:
    first, second = hosts
    result = first.start(VmDefinition(vm_id="engine", name="bad/name"))

    assert isinstance(result, StartFailed) and "\n" not in result.reason and result.reason
    assert first.status().exit_reason is ExitReason.START_FAILED
    assert second.leases.vm_lease_holder("engine") is None  # the lease was given back
