from pathlib import Path

import pytest

from hosted_engine.errors import VmDefinitionError
from hosted_engine.vm.definition import Nic, VmDefinition, from_values, load_definition


def test_round_trip_keeps_everything() -> None:
    d = VmDefinition(
        vm_id="v1",
        mem_size_mib=4096,
        min_allocated_mem_mib=2048,
        sockets=2,
        cores_per_socket=2,
        threads_per_core=2,
        max_vcpus=16,
        nics=(Nic("00:16:3e:00:00:01"), Nic("00:16:3e:00:00:02", "lab", "e1000", False)),
        boot_image_id="1b52d184-a370-48a7-8335-a4755b01ec0a",
        extra={"custom": "1", "command": "/bin/echo 'a b'", "dataDir": "/srv/disk"},
    )
    assert from_values(d.to_values()) == d
    assert d.smp == 4
    assert d.to_dict()["nics"][1] == {
        "macAddr": "00:16:3e:00:00:02",
        "network": "lab",
        "model": "e1000",
        "linkActive": False,
    }


def test_legacy_smp_means_sockets(tmp_path: Path) -> None:
    path = tmp_path / "vm.conf"
    path.write_text("vmId=v\nmemSize=512\nsmp=3\n")
    d = load_definition(path)
    assert (d.sockets, d.smp, d.min_allocated_mib) == (3, 3, 512)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "vmId is missing"),
        ({"vmId": "v", "memSize": "lots"}, "memSize must be a whole number"),
        ({"vmId": "v", "sockets": "0"}, "sockets must be between"),
        ({"vmId": "v", "memSize": "512", "minAllocatedMem": "1024"}, "cannot exceed"),
        ({"vmId": "v", "nic1.macAddr": "zz"}, "not a MAC address"),
        (
            {"vmId": "v", "nic1.macAddr": "00:16:3e:00:00:01", "nic1.linkActive": "maybe"},
            "true or false",
        ),
        ({"vmId": "v", "command": "'unclosed"}, "cannot be parsed"),
    ],
)
def test_bad_definitions(values: dict[str, str], message: str) -> None:
    with pytest.raises(VmDefinitionError, match=message):
        from_values(values)
