"""The broker's monitor set from a hosted-engine.conf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hosted_engine.broker.monitors import MonitorRunner, build_monitors
from hosted_engine.clock import FakeClock
from hosted_engine.config.host import from_values
from hosted_engine.errors import ConfigError
from hosted_engine.vm.engine_status import EngineStatus


def test_the_six_monitors_measure_a_tmp_host(tmp_path: Path, backend: Any) -> None:
    config = from_values({"host_id": "1", "sdUUID": "sd", "storage": str(tmp_path), "bridge": "lo"})
    config.ha_dir.mkdir(parents=True)
    config.metadata_path.write_bytes(b"\0" * 4096)
    monitors = build_monitors(config, backend, FakeClock())
    runner = MonitorRunner(monitors, 10, FakeClock())
    assert runner.names == [
        "network",
        "bridge",
        "mem-free",
        "cpu-load",
        "engine-health",
        "storage-domain",
    ]
    readings = {name: runner.refresh(name) for name in ("network", "bridge", "storage-domain")}
    assert readings["network"].value == 1.0  # no gateway: network_test defaults to none
    assert readings["bridge"].value is True
    assert readings["storage-domain"].value is True
    engine = runner.refresh("engine-health").value
    assert isinstance(engine, EngineStatus)
    assert engine.vm == "down"


def test_bad_network_options_fail_the_build(tmp_path: Path, backend: Any) -> None:
    config = from_values(
        {"host_id": "1", "sdUUID": "sd", "storage": str(tmp_path), "network_test": "tcp"}
    )
    with pytest.raises(ConfigError, match="tcp_t_address"):
        build_monitors(config, backend, FakeClock())
