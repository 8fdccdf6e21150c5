"""Choosing the sanlock lease backend from hosted-engine.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from hosted_engine.backends import lease_manager_for
from hosted_engine.config.host import from_values
from hosted_engine.errors import ConfigError
from hosted_engine.locking import sanlock_backend


def config(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "host_id": "1",
        "sdUUID": "sd",
        "storage": str(tmp_path),
        "run_dir": str(tmp_path / "run"),
        "lease_backend": "sanlock",
        **extra,
    }


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if this process had not talked to any sanlock daemon yet."""
    pytest.importorskip("sanlock")
    monkeypatch.setattr(sanlock_backend, "_process_run_dir", None)
    monkeypatch.delenv("SANLOCK_RUN_DIR", raising=False)


def test_sanlock_backend_from_the_configuration(tmp_path: Path, fresh_process: None) -> None:
    run_dir = tmp_path / "sanlock"
    values = config(tmp_path, sanlock_run_dir=str(run_dir), sanlock_io_timeout="1")
    manager = lease_manager_for(from_values(values))
    assert isinstance(manager, sanlock_backend.SanlockLeaseManager)
    assert manager.io_timeout == 1
    assert manager.socket_path == run_dir / "sanlock.sock"


def test_io_timeout_defaults_to_sanlocks(tmp_path: Path) -> None:
    assert from_values(config(tmp_path)).sanlock_io_timeout == 10


@pytest.mark.parametrize("value", ["0", "61", "ten", "1.5", "-1"])
def test_a_bad_io_timeout_is_a_one_line_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="sanlock_io_timeout") as e:
        from_values(config(tmp_path, sanlock_io_timeout=value))
    assert "\n" not in str(e.value)


def test_a_lease_timeout_sanlock_would_outlast_is_refused(
    tmp_path: Path, fresh_process: None
) -> None:
    """At io_timeout 1 another host may take a dead host's lease after 68 s: fencing
    that waits longer would let two VMs run."""
    values = config(tmp_path, sanlock_io_timeout="1", **{"timing.lease_timeout": "70"})
    with pytest.raises(ConfigError, match="must be below the 68 s"):
        lease_manager_for(from_values(values))


def test_an_unknown_lease_backend_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known: fcntl, sanlock"):
        lease_manager_for(from_values(config(tmp_path, lease_backend="flock")))
