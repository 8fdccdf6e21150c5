"""``--set-maintenance`` is all or nothing: a failure on one side leaves both sides as they
were (it once wrote the global flag and then failed on ha.conf, exiting 1 with the cluster
in global maintenance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hosted_engine.config.host import load_host_config
from hosted_engine.errors import StorageError
from hosted_engine.storage.whiteboard import Whiteboard

from .conftest import Cli, Domain, assert_one_line_error

MODES = ["global", "local", "none"]


def _state_dir_is_a_file(conf: Path) -> None:
    state = load_host_config(conf).state_dir
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("not a directory\n")


def _ha_conf_is_a_directory(conf: Path) -> None:
    load_host_config(conf).ha_state_path.mkdir(parents=True)


def _ha_conf_is_malformed(conf: Path) -> None:
    path = load_host_config(conf).ha_state_path
    path.parent.mkdir(parents=True)
    path.write_text("local_maintenance=perhaps\n")


def _ha_conf_is_a_fifo(conf: Path) -> None:
    import os

    path = load_host_config(conf).ha_state_path
    path.parent.mkdir(parents=True)
    os.mkfifo(path)


def _lock_is_a_directory(conf: Path) -> None:
    """ha.conf reads fine, but its write fails: after the global flag was written."""
    load_host_config(conf).local_config_lock.mkdir(parents=True)


def _snapshot(domain: Domain, conf: Path) -> tuple[bytes, object]:
    path = load_host_config(conf).ha_state_path
    local = path.read_bytes() if path.is_file() else None
    return domain.slot_bytes(0), local


@pytest.mark.parametrize(
    "breakage",
    [
        _state_dir_is_a_file,
        _ha_conf_is_a_directory,
        _ha_conf_is_malformed,
        _ha_conf_is_a_fifo,
        _lock_is_a_directory,
    ],
)
@pytest.mark.parametrize("global_before", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_a_local_failure_changes_nothing(
    cli: Cli,
    domain: Domain,
    conf: Path,
    mode: str,
    global_before: bool,
    breakage: Callable[[Path], None],
) -> None:
    domain.set_global_maintenance(global_before)
    breakage(conf)
    before = _snapshot(domain, conf)
    result = cli("--set-maintenance", f"--mode={mode}", "--config", conf)
    assert_one_line_error(result)
    assert _snapshot(domain, conf) == before
    assert domain.scan().global_flags.maintenance is global_before


@pytest.mark.parametrize("mode", MODES)
def test_a_global_failure_restores_the_local_flags(
    cli: Cli, domain: Domain, conf: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (slot 0 cannot be made to fail on its own while it reads fine)."""
    assert cli("--set-maintenance", "--mode=local", "--config", conf).code == 0
    before = _snapshot(domain, conf)

    def broken(self: Whiteboard, **changes: bool) -> None:
        raise StorageError(f"cannot write {self.path}: Input/output error")

    monkeypatch.setattr(Whiteboard, "update_global", broken)
    result = cli("--set-maintenance", f"--mode={mode}", "--config", conf)
    assert_one_line_error(result, f"cannot write {domain.metadata}: Input/output error")
    monkeypatch.undo()
    assert _snapshot(domain, conf) == before


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_still_works(cli: Cli, domain: Domain, conf: Path, mode: str) -> None:
    assert cli("--set-maintenance", f"--mode={mode}", "--config", conf).code == 0
    assert domain.scan().global_flags.maintenance is (mode == "global")
    flags = load_host_config(conf).ha_state_path.read_text()
    assert f"local_maintenance={mode == 'local'}\n" in flags
