"""``--vm-status --explain``: each host's score term by term, from its published breakdown;
the default ``--json`` keeps exactly the reference's keys."""

from __future__ import annotations

import json
from pathlib import Path

from hosted_engine.broker_contract import BREAKDOWN_KEY, ScoreBreakdown
from hosted_engine.storage.metadata import HostRecord, encode_slot

from .conftest import ENGINE_UP, EPOCH_OFFSET, Cli, Domain, hostname

REFERENCE_KEYS = {
    "host-id",
    "host-ts",
    "score",
    "engine-status",
    "hostname",
    "maintenance",
    "stopped",
    "crc32",
    "conf_on_shared_storage",
    "local_conf_timestamp",
    "extra",
}


def publish(domain: Domain, host_id: int, state: str, breakdown: ScoreBreakdown | None) -> None:
    """A host record as the agent has it published: state, flags and the breakdown."""
    record = HostRecord(
        host_id=host_id,
        host_ts=1000,
        score=breakdown.total if breakdown else 0,
        engine_status=ENGINE_UP,
        hostname=hostname(host_id),
        maintenance=False,
        stopped=False,
        conf_on_shared_storage=True,
        local_conf_timestamp=990,
    )
    state_md = {"maintenance": "False", "state": state, "stopped": "False"}
    if breakdown is not None:
        state_md[BREAKDOWN_KEY] = breakdown.to_metadata()
    domain.board.write_slot(host_id, encode_slot(record, state_md, EPOCH_OFFSET))


def cluster(domain: Domain) -> None:
    publish(domain, 1, "EngineUp", ScoreBreakdown(3400, (("network", 800),), None))
    publish(
        domain,
        2,
        "LocalMaintenance",
        ScoreBreakdown(3400, (("low free memory", 400),), "state LocalMaintenance"),
    )
    publish(domain, 3, "EngineDown", None)  # an older agent: no breakdown


def test_explain_shows_base_and_each_penalty(cli: Cli, domain: Domain, conf: Path) -> None:
    cluster(domain)
    result = cli("--vm-status", "--explain", "--config", conf)
    assert result.code == 0, result
    assert result.out == (
        "Host host1.example.com (id: 1), state EngineUp: score 2600\n"
        "    base score                        3400\n"
        "    network                           -800\n"
        "    = score                           2600\n"
        "\n"
        "Host host2.example.com (id: 2), state LocalMaintenance: score 0\n"
        "    base score                        3400\n"
        "    low free memory                   -400\n"
        "    forced to 0: state LocalMaintenance\n"
        "    = score                              0\n"
        "\n"
        "Host host3.example.com (id: 3), state EngineDown: score 0\n"
        "    no breakdown published (agent not running, or an older version)\n"
    )


def test_explain_as_json(cli: Cli, domain: Domain, conf: Path) -> None:
    cluster(domain)
    result = cli("--vm-status", "--explain", "--json", "--config", conf)
    assert result.code == 0
    data = result.json
    assert data["1"]["penalties"] == [["network", 800]] and data["1"]["total"] == 2600
    assert data["2"]["zero_because"] == "state LocalMaintenance"
    assert "error" in data["3"]


def test_the_default_json_keeps_the_reference_keys(cli: Cli, domain: Domain, conf: Path) -> None:
    cluster(domain)
    data = cli("--vm-status", "--json", "--config", conf).json
    assert set(data) == {"1", "2", "3", "global_maintenance"}
    for host in ("1", "2", "3"):
        assert set(data[host]) == REFERENCE_KEYS  # no broker here, so no live-data either
    # the breakdown rides in the extra metadata text, which oVirt's readers pass through
    assert f"{BREAKDOWN_KEY}=" in data["1"]["extra"]
    json.dumps(data)


def test_a_garbled_breakdown_is_reported_not_a_traceback(
    cli: Cli, domain: Domain, conf: Path
) -> None:
    record = HostRecord(1, 1000, 3400, ENGINE_UP, hostname(1), False, False, True, 990)
    state_md = {"state": "EngineUp", BREAKDOWN_KEY: "{not json"}
    domain.board.write_slot(1, encode_slot(record, state_md, EPOCH_OFFSET))
    result = cli("--vm-status", "--explain", "--config", conf)
    assert result.code == 0
    assert "unreadable breakdown: score breakdown is not JSON" in result.out


def test_explain_with_nothing_published(cli: Cli, conf: Path) -> None:
    result = cli("--vm-status", "--explain", "--config", conf)
    assert result.code == 1 and result.out == ""
    assert result.err.strip().endswith(
        "No host has published its status on the storage domain yet."
    )
