"""Integration: the engine VM definition from the OVF_STORE on a real 3-host lab (its own).

A memory edit through the CLI reaches every broker's cache and the payload at the VM's
next start; without an OVF_STORE the hosts fall back to the archive's vm.conf and say so;
a corrupt OVF_STORE keeps the last good definition; the metadata tells the source.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from hosted_engine.config.host import load_host_config
from hosted_engine.lab.cluster import Lab, engine_healthy
from hosted_engine.lab.layout import host_config_path, host_state_dir
from hosted_engine.storage.ovf_store import OvfStore
from tests.integration.conftest import VmSampler, cli, wait_for

pytestmark = pytest.mark.lab

HOSTS = (1, 2, 3)


def store_of(lab: Lab) -> OvfStore:
    return OvfStore(load_host_config(host_config_path(lab.dir, 1)).ha_dir)


def shown(lab: Lab, host_id: int) -> dict[str, Any]:
    result = cli(lab, host_id, "--show-vm-definition", "--json")
    assert result.returncode == 0, result.stderr
    definition: dict[str, Any] = json.loads(result.stdout)
    return definition


def set_vm(lab: Lab, key: str, value: str) -> None:
    result = cli(lab, 2, "--set-shared-config", key, value, "--type=vm", "--force")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def config_health(lab: Lab, host_id: int) -> dict[str, Any]:
    health: dict[str, Any] = lab.client(host_id).broker_health()["config"]
    return health


def payload_definition(lab: Lab) -> dict[str, Any] | None:
    """The definition the running engine VM was handed (the file its environment names);
    None while none runs with one."""
    for vm in lab.engine_vms():
        try:
            path = vm.environ().get("HOSTED_ENGINE_VM_DEFINITION")
            if path:
                definition: dict[str, Any] = json.loads(Path(path).read_text())
                return definition
        except (psutil.Error, OSError, ValueError):  # going down meanwhile
            continue
    return None


def restart_vm(lab: Lab) -> dict[str, Any]:
    """Kill the engine VM where it runs; the definition the next one starts with."""
    runner = wait_for(lab.engine_host, 30, "an engine host")
    old = lab.engine_vms()
    lab.kill_vm(runner)

    def restarted() -> dict[str, Any] | None:
        vms = lab.engine_vms()
        if not vms or any(vm.pid in {o.pid for o in old} for vm in vms):
            return None
        return payload_definition(lab)

    definition: dict[str, Any] = wait_for(restarted, 60, "the engine VM started again")
    wait_for(lambda: engine_healthy(lab.manifest.engine_url), 30, "a healthy engine")
    return definition


def every_host_sees(lab: Lab, key: str, value: object, source: str) -> None:
    for host_id in HOSTS:
        wait_for(
            lambda h=host_id: shown(lab, h)[key] == value and shown(lab, h)["source"] == source,
            15,
            f"host {host_id} to cache {key}={value} from {source}",
        )


@pytest.fixture
def memory_256(lab: Lab) -> Iterator[None]:
    """Every test starts and ends with the OVF's memory at the lab's 256 MiB."""
    yield
    set_vm(lab, "memSize", "256")
    every_host_sees(lab, "memSize", 256, "ovf")


def test_show_vm_definition_and_the_metadata_name_the_ovf(lab: Lab, sampler: VmSampler) -> None:
    for host_id in HOSTS:
        definition = shown(lab, host_id)
        assert definition["source"] == "ovf" and definition["vmId"] == lab.manifest.vm_id
        assert (definition["memSize"], definition["minAllocatedMem"]) == (256, 256)
        assert (definition["sockets"], definition["coresPerSocket"]) == (1, 1)
        assert definition["threadsPerCore"] == 1
        assert definition["nics"] == [
            {
                "macAddr": "00:16:3e:00:00:01",
                "network": "lo",
                "model": "virtio",
                "linkActive": True,
            }
        ]
    status = json.loads(cli(lab, 1, "--vm-status", "--json").stdout)
    for host_id in HOSTS:
        record = status[str(host_id)]
        assert record["conf_on_shared_storage"] is True
        assert record["local_conf_timestamp"] > 0
        assert "vm_conf_source=ovf" in record["extra"]


def test_a_memory_edit_reaches_the_payload_at_the_next_start(
    lab: Lab, sampler: VmSampler, memory_256: None
) -> None:
    before = wait_for(lambda: payload_definition(lab), 30, "the payload's definition")
    assert before["memSize"] == 256

    set_vm(lab, "memSize", "320")
    every_host_sees(lab, "memSize", 320, "ovf")
    assert payload_definition(lab) == before  # a running VM keeps what it started with

    after = restart_vm(lab)
    # no MinAllocatedMem in the lab's OVF: the minimum follows the memory
    assert (after["memSize"], after["minAllocatedMem"]) == (320, 320)
    memory = {"memSize", "minAllocatedMem"}
    assert {k: v for k, v in after.items() if k not in memory} == {
        k: v for k, v in before.items() if k not in memory
    }


def _move_store(lab: Lab, suffix: str, back: bool = False) -> None:
    for path in store_of(lab).paths:
        parked = path.with_name(path.name + suffix)
        os.replace(*((parked, path) if back else (path, parked)))


def test_without_an_ovf_store_the_hosts_use_the_archive_vm_conf(
    lab: Lab, sampler: VmSampler, memory_256: None
) -> None:
    set_vm(lab, "memSize", "384")  # the OVF now differs from the archive's vm.conf (256)
    every_host_sees(lab, "memSize", 384, "ovf")
    _move_store(lab, ".parked")
    try:
        every_host_sees(lab, "memSize", 256, "vm.conf")
        for host_id in HOSTS:
            health = config_health(lab, host_id)
            assert (health["error"], health["vm_source"]) == (None, "vm.conf")
        assert restart_vm(lab)["memSize"] == 256
        status = json.loads(cli(lab, 1, "--vm-status", "--json").stdout)
        assert all("vm_conf_source=vm.conf" in status[str(h)]["extra"] for h in HOSTS)
    finally:
        _move_store(lab, ".parked", back=True)
    every_host_sees(lab, "memSize", 384, "ovf")


def test_a_corrupt_ovf_store_keeps_the_last_good_definition(lab: Lab, sampler: VmSampler) -> None:
    """In global maintenance: every host takes the config penalty, not all at once."""
    assert cli(lab, 1, "--set-maintenance", "--mode=global").returncode == 0
    store = store_of(lab)
    good = [path.read_bytes() for path in store.paths]
    cached = {h: (host_state_dir(lab.dir, h) / "vm.conf").read_text() for h in HOSTS}

    store.paths[0].write_bytes(b"not a tar")  # one copy: the other one serves
    for host_id in HOSTS:
        wait_for(lambda h=host_id: config_health(lab, h)["warning"], 10, "the warning")
        assert config_health(lab, host_id)["error"] is None

    for path in store.paths:
        path.write_bytes(b"not a tar")
    try:
        for host_id in HOSTS:
            wait_for(lambda h=host_id: config_health(lab, h)["error"], 10, "the error reported")
            assert config_health(lab, host_id)["vm_source"] == "ovf"
        assert {h: (host_state_dir(lab.dir, h) / "vm.conf").read_text() for h in HOSTS} == (cached)
        assert all(shown(lab, h)["source"] == "ovf" for h in HOSTS)
        refused = cli(lab, 1, "--get-shared-config", "memSize", "--type=vm")
        assert refused.returncode == 1 and "not a valid tar archive" in refused.stderr
        assert len(refused.stderr.splitlines()) == 1
    finally:
        for path, data in zip(store.paths, good, strict=True):
            broken = Path(f"{path}.repair")
            broken.write_bytes(data)
            os.replace(broken, path)
    for host_id in HOSTS:
        wait_for(
            lambda h=host_id: (
                config_health(lab, h)["error"] is None and config_health(lab, h)["warning"] is None
            ),
            10,
            "a clean refresh",
        )
