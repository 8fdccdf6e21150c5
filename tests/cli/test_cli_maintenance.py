"""``--set-maintenance``: every mode writes the global flag and both local flags (1.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.client import HAClient, MaintenanceMode
from hosted_engine.config.host import load_host_config
from hosted_engine.errors import UsageError
from hosted_engine.files import keyvalue
from hosted_engine.locking import MemoryLeaseManager
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.fake import FakeVmBackend

from .conftest import VM_ID, Cli, Domain, MakeConf, assert_one_line_error

LOCAL_REFUSED = (
    "Unable to enter local maintenance mode: the engine VM is running on the current host, "
    "please migrate it before entering local maintenance mode."
)


def ha_conf(conf: Path) -> Path:
    return load_host_config(conf).ha_state_path


def local_flags(conf: Path) -> dict[str, str]:
    values = keyvalue.load(ha_conf(conf))
    return {k: values[k] for k in ("local_maintenance", "local_maintenance_manual")}


def test_global_sets_slot_zero(cli: Cli, domain: Domain, conf: Path) -> None:
    assert domain.scan().global_flags.maintenance is False
    result = cli("--set-maintenance", "--mode=global", "--config", conf)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert domain.scan().global_flags.maintenance is True
    assert domain.slot_bytes(0).rstrip(b"\0") == b"maintenance=1"


def test_none_clears_slot_zero(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.set_global_maintenance(True)
    assert cli("--set-maintenance", "--mode", "none", "--config", conf).code == 0
    assert domain.scan().global_flags.maintenance is False


def test_global_keeps_host_slots(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.write_reference_hosts()
    before = [domain.slot_bytes(h) for h in (1, 2)]
    assert cli("--set-maintenance", "--mode=global", "--config", conf).code == 0
    assert [domain.slot_bytes(h) for h in (1, 2)] == before


def test_local_writes_both_local_flags(cli: Cli, domain: Domain, conf: Path) -> None:
    result = cli("--set-maintenance", "--mode=local", "--config", conf)
    assert result.code == 0, result
    assert local_flags(conf) == {"local_maintenance": "True", "local_maintenance_manual": "True"}
    assert domain.scan().global_flags.maintenance is False


def test_local_clears_global(cli: Cli, domain: Domain, conf: Path) -> None:
    domain.set_global_maintenance(True)
    assert cli("--set-maintenance", "--mode=local", "--config", conf).code == 0
    assert domain.scan().global_flags.maintenance is False


@pytest.mark.parametrize("mode", ["global", "none"])
def test_other_modes_clear_the_local_flags(cli: Cli, domain: Domain, conf: Path, mode: str) -> None:
    assert cli("--set-maintenance", "--mode=local", "--config", conf).code == 0
    assert cli("--set-maintenance", f"--mode={mode}", "--config", conf).code == 0
    assert local_flags(conf) == {
        "local_maintenance": "False",
        "local_maintenance_manual": "False",
    }
    assert domain.scan().global_flags.maintenance is (mode == "global")


def test_local_flags_keep_the_rest_of_ha_conf(cli: Cli, domain: Domain, conf: Path) -> None:
    path = ha_conf(conf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by hand\nother=kept\n")
    assert cli("--set-maintenance", "--mode=local", "--config", conf).code == 0
    text = path.read_text()
    assert "# written by hand\n" in text and "other=kept\n" in text
    assert HAClient.from_config(conf).local_maintenance() is True


def test_global_on_missing_storage_is_one_line(cli: Cli, make_conf: MakeConf) -> None:
    conf = make_conf(sdUUID="never-created")
    result = cli("--set-maintenance", "--mode=global", "--config", conf)
    assert_one_line_error(result)


# --- the client API -------------------------------------------------------------------------


@pytest.fixture
def fake_backend() -> FakeVmBackend:
    return FakeVmBackend(MemoryLeaseManager(), host_id=1)


def test_local_refused_while_the_vm_runs_here(
    domain: Domain, conf: Path, fake_backend: FakeVmBackend
) -> None:
    client = HAClient(load_host_config(conf), backend=fake_backend)
    fake_backend.start(VmDefinition(VM_ID))
    with pytest.raises(UsageError) as exc:
        client.set_maintenance(MaintenanceMode.LOCAL)
    assert str(exc.value) == LOCAL_REFUSED
    assert not ha_conf(conf).exists()  # nothing written
    assert domain.scan().global_flags.maintenance is False


def test_local_refused_while_the_vm_is_paused_here(conf: Path, fake_backend: FakeVmBackend) -> None:
    client = HAClient(load_host_config(conf), backend=fake_backend)
    fake_backend.start(VmDefinition(VM_ID))
    fake_backend.pause()
    with pytest.raises(UsageError, match=r"^Unable to enter local maintenance mode"):
        client.set_maintenance("local")


def test_local_allowed_once_the_vm_is_down(
    domain: Domain, conf: Path, fake_backend: FakeVmBackend
) -> None:
    client = HAClient(load_host_config(conf), backend=fake_backend)
    fake_backend.start(VmDefinition(VM_ID))
    fake_backend.shutdown(0)
    client.set_maintenance("local")
    assert client.local_maintenance() is True


def test_global_allowed_while_the_vm_runs_here(
    domain: Domain, conf: Path, fake_backend: FakeVmBackend
) -> None:
    client = HAClient(load_host_config(conf), backend=fake_backend)
    fake_backend.start(VmDefinition(VM_ID))
    client.set_maintenance("global")
    assert domain.scan().global_flags.maintenance is True


def test_client_refuses_an_unknown_mode(conf: Path, fake_backend: FakeVmBackend) -> None:
    client = HAClient(load_host_config(conf), backend=fake_backend)
    with pytest.raises(UsageError, match=r"^Invalid value 'bogus' for --mode$"):
        client.set_maintenance("bogus")
