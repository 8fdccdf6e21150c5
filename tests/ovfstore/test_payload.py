"""What the process backend runs for a definition from an OVF: its own configuration
(``process_command``, ``process_data_dir``), the boot disk's image as the data dir, the
legacy vm.conf keys as a fallback; and the payload is handed its definition as JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hosted_engine.backends import vm_backend_for
from hosted_engine.config.host import from_values as host_from_values
from hosted_engine.errors import ConfigError, VmDefinitionError
from hosted_engine.vm.base import Started, StartFailed, VmState
from hosted_engine.vm.definition import VmDefinition
from hosted_engine.vm.process import PayloadSettings, ProcessVmBackend

from .conftest import StoreFiles

LEGACY = {"command": "/usr/bin/legacy-engine --port 8080", "dataDir": "/srv/legacy"}


@pytest.mark.parametrize(
    ("settings", "definition", "expected"),
    [
        pytest.param(
            PayloadSettings(("/opt/engine",), Path("/srv/conf"), Path("/sd/images")),
            VmDefinition("vm", boot_image_id="img-1", extra=LEGACY),
            (("/opt/engine",), Path("/srv/conf")),
            id="host-config-first",
        ),
        pytest.param(
            PayloadSettings(("/opt/engine",), None, Path("/sd/images")),
            VmDefinition("vm", boot_image_id="img-1", extra=LEGACY),
            (("/opt/engine",), Path("/sd/images/img-1")),
            id="boot-disk-image",
        ),
        pytest.param(
            PayloadSettings((), None, Path("/sd/images")),
            VmDefinition("vm", extra=LEGACY),
            (("/usr/bin/legacy-engine", "--port", "8080"), Path("/srv/legacy")),
            id="legacy-vm-conf",
        ),
        pytest.param(PayloadSettings(), VmDefinition("vm"), ((), None), id="nothing-configured"),
    ],
)
def test_what_runs_and_where(
    settings: PayloadSettings,
    definition: VmDefinition,
    expected: tuple[tuple[str, ...], Path | None],
) -> None:
    assert settings.for_definition(definition) == expected


def test_a_legacy_command_that_cannot_be_parsed() -> None:
    with pytest.raises(VmDefinitionError, match="command cannot be parsed"):
        PayloadSettings().for_definition(VmDefinition("vm", extra={"command": "'unclosed"}))


def test_no_command_anywhere_is_a_start_failure_naming_the_setting(tmp_path: Path) -> None:
    backend = ProcessVmBackend(tmp_path / "run", tmp_path / "lockspace", 1, "h1")
    result = backend.start(VmDefinition("vm"))
    assert isinstance(result, StartFailed) and "set process_command" in result.reason
    assert not (tmp_path / "run").exists()


def test_the_host_config_carries_the_payload(lab_files: StoreFiles) -> None:
    config = lab_files.config(1)
    assert config.process_command[1:4] == ("-m", "hosted_engine.manager.main", "--listen")
    assert config.process_data_dir == config.images_dir / "engine-disk"
    backend = vm_backend_for(config)
    assert isinstance(backend, ProcessVmBackend)
    assert backend.payload == PayloadSettings(
        config.process_command, config.process_data_dir, config.domain_dir / "images"
    )
    assert "process_command" in lab_files.member("hosted-engine.conf")  # he_shared too
    with pytest.raises(ConfigError, match="process_command cannot be parsed"):
        host_from_values(
            {"host_id": "1", "sdUUID": "sd", "storage": "/s", "process_command": "'x"}, "conf"
        )


def test_the_payload_gets_its_definition_and_the_boot_disk_as_data_dir(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    script = 'cat "$HOSTED_ENGINE_VM_DEFINITION" > "$1"; echo "$HOSTED_ENGINE_DATA_DIR" >> "$1"'
    payload = PayloadSettings(
        ("sh", "-c", script + "; exec sleep 60", "sh", str(out)), None, tmp_path / "images"
    )
    ha_dir = tmp_path / "ha_agent"
    ha_dir.mkdir()
    backend = ProcessVmBackend(
        tmp_path / "run",
        ha_dir / "hosted-engine.lockspace",
        1,
        "h1",
        payload=payload,
        start_check=0.2,
    )
    definition = VmDefinition("vm-payload", mem_size_mib=320, boot_image_id="img-7")
    data_dir = tmp_path / "images" / "img-7"
    try:
        assert isinstance(backend.start(definition), Started)
        deadline = time.monotonic() + 10
        while not (out.exists() and out.read_text().endswith(f"}}{data_dir}\n")):
            assert time.monotonic() < deadline, "the payload never wrote what it was given"
            time.sleep(0.02)
    finally:
        backend.poweroff()
    deadline = time.monotonic() + 10
    while backend.status().state is not VmState.DOWN:
        assert time.monotonic() < deadline, "the payload outlived its poweroff"
        time.sleep(0.02)
    shown = json.loads(out.read_text().removesuffix(f"{data_dir}\n"))
    assert shown == definition.to_dict()
    assert (shown["vmId"], shown["memSize"], shown["bootImageId"]) == ("vm-payload", 320, "img-7")
