"""The pieces of hostd that need no running host: the maintenance mode helper, and the
client's etag-locked edit of the engine VM's OVF on a laid-out (not running) lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.client import HAClient, MaintenanceMode
from hosted_engine.config.host import load_host_config
from hosted_engine.errors import (
    ConcurrentChangeError,
    DefinitionChangedError,
    NoEngineOvfError,
    OvfEditError,
)
from hosted_engine.hostd.app import one_line
from hosted_engine.hostd.status import maintenance_mode
from hosted_engine.lab.layout import create_lab, host_config_path
from hosted_engine.storage.ovf_store import OvfStore
from hosted_engine.storage.shared_tar import sha256

NONE, LOCAL, GLOBAL = MaintenanceMode.NONE, MaintenanceMode.LOCAL, MaintenanceMode.GLOBAL


@pytest.mark.parametrize(
    ("kind", "enabled", "local", "global_", "mode"),
    [
        ("local", True, False, False, LOCAL),
        ("local", False, True, False, NONE),
        ("local", False, True, True, GLOBAL),  # local off keeps global on
        ("global", True, False, False, GLOBAL),
        ("global", False, False, True, NONE),
        ("global", False, True, True, LOCAL),  # global off keeps local on
        ("global", False, True, False, LOCAL),
        ("local", False, False, True, GLOBAL),
    ],
)
def test_maintenance_mode_changes_only_its_kind(
    kind: str, enabled: bool, local: bool, global_: bool, mode: MaintenanceMode
) -> None:
    assert maintenance_mode(kind, enabled, local=local, global_=global_) is mode


def test_maintenance_mode_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown"):
        maintenance_mode("both", True, local=False, global_=False)


def test_one_line_keeps_the_first_line() -> None:
    assert one_line("Invalid configuration key x.\nAvailable keys are:\n...") == (
        "Invalid configuration key x."
    )
    assert one_line("") == "error"


@pytest.fixture
def client(tmp_path: Path) -> HAClient:
    create_lab(tmp_path / "lab", 1, "fast")
    return HAClient.from_config(host_config_path(tmp_path / "lab", 1))


def store(client: HAClient) -> OvfStore:
    return OvfStore(load_host_config(client.config.path).ha_dir)


def test_edit_is_all_or_none_and_moves_the_etag(client: HAClient) -> None:
    definition, etag, source = client.vm_definition_for_edit()
    assert source == "ovf" and definition.mem_size_mib == 256
    found = store(client).read().vm_ovf(definition.vm_id)
    assert found is not None and sha256(found.data) == etag
    with pytest.raises(OvfEditError):
        client.edit_vm_definition({"memSize": 512, "sockets": "many"}, etag)
    assert client.vm_definition_for_edit()[1] == etag  # nothing written
    edited, new = client.edit_vm_definition({"memSize": 512, "sockets": 2}, etag)
    assert (edited.mem_size_mib, edited.sockets) == (512, 2) and new != etag
    assert client.vm_definition_for_edit()[:2] == (edited, new)
    assert client.edit_vm_definition({}, new) == (edited, new)
    with pytest.raises(DefinitionChangedError):
        client.edit_vm_definition({"memSize": 1024}, etag)


def test_a_write_between_read_and_swap_loses_nobodys_change(
    client: HAClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, etag, _ = client.vm_definition_for_edit()
    real = OvfStore.replace

    def racing(self: OvfStore, expected: object, members: object, **kw: object) -> None:
        monkeypatch.setattr(OvfStore, "replace", real)
        client.set_shared_config("memSize", "300", "vm", force=True)  # the CLI's edit
        real(self, expected, members)  # type: ignore[arg-type]

    monkeypatch.setattr(OvfStore, "replace", racing)
    with pytest.raises(ConcurrentChangeError):
        client.edit_vm_definition({"memSize": 512}, etag)
    assert client.vm_definition_for_edit()[0].mem_size_mib == 300


def test_no_ovf_falls_back_to_vm_conf_and_refuses_edits(client: HAClient) -> None:
    ovf_store = store(client)
    snapshot = ovf_store.read()
    members = {k: v for k, v in snapshot.base_members().items() if not k.endswith(".ovf")}
    ovf_store.replace(snapshot.expected, members)
    definition, etag, source = client.vm_definition_for_edit()
    assert source == "vm.conf" and definition.mem_size_mib == 256 and len(etag) == 64
    with pytest.raises(NoEngineOvfError, match="--convert-vm-conf"):
        client.edit_vm_definition({"memSize": 512}, etag)


class _Failing:
    """A client whose every call fails with the error it is given."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_shared_config(self, key: str, config_type: str) -> tuple[str, str]:
        raise self.error

    def edit_vm_definition(self, changes: object, if_match: str) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OSError(5, "Input/output error"), 500),
        (ConcurrentChangeError(), 412),
        (DefinitionChangedError("changed"), 412),
        (NoEngineOvfError("no OVF"), 409),
        (OvfEditError("cannot set memSize"), 422),
    ],
)
def test_errors_become_one_line_json_with_their_status(error: Exception, status: int) -> None:
    import asyncio

    import httpx

    from hosted_engine.hostd.app import make_app

    app = make_app(_Failing(error))  # type: ignore[arg-type]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hostd") as http:
            return [
                await http.get("/v1/shared-config/vm/memSize"),
                await http.put(
                    "/v1/vm-definition", json={"changes": {}}, headers={"If-Match": '"x"'}
                ),
            ]

    for answer in asyncio.run(run()):
        assert answer.status_code == status, answer.text
        assert list(answer.json()) == ["message"] and "\n" not in answer.json()["message"]
