"""The public client API: status from the broker or from storage, and the VM verbs' answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hosted_engine.client import ClusterStatus, HAClient, VmCommandError
from hosted_engine.config.host import load_host_config
from hosted_engine.errors import HostedEngineError, NotDeployedError, UsageError
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.vm.base import StopResult, VmState
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend

from .conftest import VM_ID, Broker, Cli, Domain, MakeConf, assert_one_line_error

# --- status ---------------------------------------------------------------------------------


def _populate(domain: Domain) -> None:
    domain.write_reference_hosts()
    domain.write_host(4, stopped=True, score=0, state="AgentStopped")
    domain.write_raw(3, b"7|" + bytes(600))  # a slot from a newer writer: a warning
    domain.set_global_maintenance(True)


def test_direct_status_is_the_broker_status_without_live_data(
    domain: Domain, broker: Broker
) -> None:
    _populate(domain)
    broker.service.publisher.read_slots()  # requests are answered from its last read
    client = HAClient.from_config(broker.conf)
    via_broker = client.get_status()
    direct = client.get_status(direct=True)

    assert (via_broker.source, direct.source) == ("broker", "storage")
    assert sorted(via_broker.hosts) == sorted(direct.hosts) == [1, 2, 4]
    assert all("live-data" in host for host in via_broker.hosts.values())
    assert all("live-data" not in host for host in direct.hosts.values())
    without_live = {
        h: {k: v for k, v in host.items() if k != "live-data"}
        for h, host in via_broker.hosts.items()
    }
    assert without_live == {h: dict(host) for h, host in direct.hosts.items()}
    # the key order is part of the shape (7.2): the same on both paths
    assert [list(without_live[h]) for h in (1, 2, 4)] == [list(direct.hosts[h]) for h in (1, 2, 4)]
    assert via_broker.global_maintenance is direct.global_maintenance is True
    assert via_broker.warnings == direct.warnings
    assert len(direct.warnings) == 1 and direct.warnings[0].startswith("slot 3: ")


def test_status_falls_back_to_storage_without_a_broker(domain: Domain, conf: Path) -> None:
    _populate(domain)
    client = HAClient.from_config(conf)
    assert client.broker_alive() is False
    status = client.get_status()
    assert status.source == "storage"
    assert status == client.get_status(direct=True)


def test_broker_alive(broker: Broker) -> None:
    assert HAClient.from_config(broker.conf).broker_alive() is True


def test_cluster_status_json_dict() -> None:
    host = {"host-id": 10, "engine-status": {"vm": "up"}, "live-data": True}
    status = ClusterStatus({10: host, 2: {"host-id": 2}}, True, "broker", ("w",))
    out = status.to_json_dict()
    assert list(out) == ["2", "10", "global_maintenance"]
    assert out["10"] == host
    assert out["global_maintenance"] is True
    assert "warnings" not in out and "source" not in out
    assert json.loads(json.dumps(out)) == out
    out["10"]["score"] = 1  # a copy: the status itself is not changed through it
    assert "score" not in status.hosts[10]


def test_cluster_status_json_dict_empty() -> None:
    assert ClusterStatus({}, False, "storage").to_json_dict() == {"global_maintenance": False}


# --- the engine VM --------------------------------------------------------------------------


@pytest.fixture
def leases() -> MemoryLeaseManager:
    return MemoryLeaseManager()


@pytest.fixture
def backend(leases: MemoryLeaseManager) -> FakeVmBackend:
    return FakeVmBackend(leases, host_id=1, hostname="host1.example.com")


@pytest.fixture
def client(deployed_conf: Path, backend: FakeVmBackend) -> HAClient:
    return HAClient(load_host_config(deployed_conf), backend=backend)


def test_start(client: HAClient, backend: FakeVmBackend) -> None:
    assert client.vm_start() == "VM in WaitForLaunch"
    assert backend.definition is not None and backend.definition.vm_id == VM_ID
    assert client.local_vm_status().state is VmState.UP


def test_start_when_already_running(client: HAClient, backend: FakeVmBackend) -> None:
    client.vm_start()
    with pytest.raises(VmCommandError) as exc:
        client.vm_start()
    assert str(exc.value) == "VM exists and its status is Up"


def test_start_when_another_host_holds_the_lease(
    client: HAClient, backend: FakeVmBackend, leases: MemoryLeaseManager
) -> None:
    other = FakeVmBackend(leases, host_id=2, hostname="host2.example.com")
    other.start(VmDefinition(VM_ID))
    with pytest.raises(VmCommandError) as exc:
        client.vm_start()
    assert str(exc.value) == "The engine VM is running on another host (host 2, host2.example.com)"
    assert not backend.running and other.running


def test_start_failure(client: HAClient, backend: FakeVmBackend) -> None:
    backend.set_start_failure("qemu exploded")
    with pytest.raises(VmCommandError) as exc:
        client.vm_start()
    assert str(exc.value) == "VM failed to launch: qemu exploded"


def test_start_without_vm_conf(make_conf: MakeConf, tmp_path: Path, backend: FakeVmBackend) -> None:
    config = load_host_config(make_conf(vmid=VM_ID, conf=tmp_path / "absent-vm.conf"))
    with pytest.raises(HostedEngineError, match=r"absent-vm\.conf"):
        HAClient(config, backend=backend).vm_start()
    assert backend.start_attempts == 0


def test_shutdown_and_poweroff(client: HAClient, backend: FakeVmBackend) -> None:
    client.vm_start()
    assert client.vm_shutdown() == "VM is shutting down!"
    assert not backend.running
    client.vm_start()
    assert client.vm_poweroff() == "VM powered off"
    assert not backend.running


def test_an_admins_starts_and_stops_go_into_the_history(
    client: HAClient, backend: FakeVmBackend
) -> None:
    client.config.ha_dir.mkdir(parents=True, exist_ok=True)
    client.vm_start()
    client.vm_shutdown()
    client.vm_start()
    entries = client.history()
    assert [(e.event.value, e.cause.value, e.detail) for e in entries] == [
        ("started", "admin", "hosted-engine --vm-start"),
        ("stopped", "admin", "hosted-engine --vm-shutdown"),
        ("started", "admin", "hosted-engine --vm-start"),
    ]
    assert entries[2].from_host == client.config.host_id and entries[2].downtime is not None


@pytest.mark.parametrize("verb", ["vm_shutdown", "vm_poweroff"])
def test_stop_when_not_running(client: HAClient, verb: str) -> None:
    with pytest.raises(VmCommandError) as exc:
        getattr(client, verb)()
    assert str(exc.value) == "Virtual machine does not exist"


class _FailingBackend(FakeVmBackend):
    def shutdown(self, grace: float) -> StopResult:
        return StopResult.FAILED

    def poweroff(self) -> StopResult:
        return StopResult.FAILED


@pytest.mark.parametrize(
    ("verb", "word"), [("vm_shutdown", "shutdown"), ("vm_poweroff", "poweroff")]
)
def test_stop_failure(
    deployed_conf: Path, leases: MemoryLeaseManager, verb: str, word: str
) -> None:
    client = HAClient(load_host_config(deployed_conf), backend=_FailingBackend(leases, 1))
    with pytest.raises(VmCommandError, match=f"^VM {word} failed"):
        getattr(client, verb)()


@pytest.mark.parametrize("verb", ["vm_start", "vm_shutdown", "vm_poweroff"])
def test_vm_verbs_need_a_deployed_host(conf: Path, backend: FakeVmBackend, verb: str) -> None:
    client = HAClient(load_host_config(conf), backend=backend)
    with pytest.raises(NotDeployedError) as exc:
        getattr(client, verb)()
    assert str(exc.value) == "You must run deploy first"
    assert backend.start_attempts == 0


# --- the CLI on top of those answers --------------------------------------------------------


@pytest.fixture
def cli_with(monkeypatch: pytest.MonkeyPatch, client: HAClient) -> HAClient:
    """The CLI builds its client from the conf; hand it ours, with the fake backend."""
    monkeypatch.setattr(HAClient, "from_config", classmethod(lambda cls, path: client))
    return client


def test_cli_vm_start_and_shutdown(cli: Cli, cli_with: HAClient) -> None:
    result = cli("--vm-start")
    assert (result.code, result.out, result.err) == (0, "VM in WaitForLaunch\n", "")
    result = cli("--vm-shutdown")
    assert (result.code, result.out, result.err) == (0, "VM is shutting down!\n", "")


def test_cli_vm_start_refused_names_the_other_host(
    cli: Cli, cli_with: HAClient, leases: MemoryLeaseManager
) -> None:
    FakeVmBackend(leases, host_id=2, hostname="host2.example.com").start(VmDefinition(VM_ID))
    result = cli("--vm-start")
    assert result.code == 1
    assert_one_line_error(
        result, "The engine VM is running on another host (host 2, host2.example.com)"
    )


def test_cli_vm_poweroff_not_running(cli: Cli, cli_with: HAClient) -> None:
    result = cli("--vm-poweroff")
    assert result.code == 1
    assert_one_line_error(result, "Virtual machine does not exist")


def test_cli_local_maintenance_refused_while_running(cli: Cli, cli_with: HAClient) -> None:
    cli_with.vm_start()
    result = cli("--set-maintenance", "--mode=local")
    assert result.code == 1
    assert_one_line_error(
        result,
        "Unable to enter local maintenance mode: the engine VM is running on the current "
        "host, please migrate it before entering local maintenance mode.",
    )


# --- checks and recovery through the API ----------------------------------------------------


def test_is_deployed(deployed_conf: Path) -> None:
    assert HAClient.from_config(deployed_conf).is_deployed() is True


def test_check_liveliness_without_url(conf: Path) -> None:
    with pytest.raises(NotDeployedError, match="missing FQDN"):
        HAClient.from_config(conf).check_liveliness()


def test_clean_metadata_with_memory_leases(domain: Domain, conf: Path) -> None:
    leases = MemoryLeaseManager()
    client = HAClient(load_host_config(conf), leases=leases)
    domain.write_host(2, stopped=True)
    held = leases.acquire_host_id(2)
    with pytest.raises(UsageError, match=r"^Host 2 is live"):
        client.clean_metadata(2, force=True)
    held.release()
    assert client.clean_metadata(2) == "Metadata for host 2 cleaned."
    assert leases.host_id_holder(2) is None


@pytest.mark.parametrize("host_id", [0, 2001, -1])
def test_clean_metadata_refuses_impossible_ids(conf: Path, host_id: int) -> None:
    with pytest.raises(UsageError, match="between 1 and 2000"):
        HAClient.from_config(conf).clean_metadata(host_id)


def test_a_hung_broker_sends_status_to_storage_within_seconds(
    domain: Domain, make_conf: MakeConf
) -> None:
    """A broker that accepts and never answers: --vm-status falls back, it does not hang."""
    import socket
    import tempfile
    import time

    _populate(domain)
    with tempfile.TemporaryDirectory(prefix="he-hung-") as run_dir:
        conf = make_conf(run_dir=run_dir)
        client = HAClient.from_config(conf)
        hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hung.bind(str(client.config.broker_socket))
        hung.listen(8)  # connections wait in its queue; nobody ever reads or answers
        try:
            started = time.monotonic()
            status = client.get_status()
            elapsed = time.monotonic() - started
        finally:
            hung.close()
    assert status.source == "storage" and sorted(status.hosts) == [1, 2, 4]
    assert elapsed < 5.0
