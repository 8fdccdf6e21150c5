"""Paths named every period are built once (see hosted_engine.files.paths for why)."""

from __future__ import annotations

from pathlib import Path

from hosted_engine.files.paths import child
from hosted_engine.locking.fcntl_backend import FcntlLeaseManager


def test_child_is_the_same_object_each_time(tmp_path: Path) -> None:
    first = child(tmp_path, "x.vmlease")
    assert first == tmp_path / "x.vmlease"
    assert child(tmp_path, "x" + ".vmlease") is first  # an equal name built afresh
    assert child(tmp_path, "y.vmlease") is not first


def test_the_fcntl_vm_lease_path_is_built_once(tmp_path: Path) -> None:
    leases = FcntlLeaseManager(tmp_path / "lockspace")
    vm_id = "2f848618-dd7e-4537-907d-8adff2ce9726"
    assert leases._vm_path(vm_id) is leases._vm_path(str(vm_id))
