"""The broker's Prometheus metrics, scraped over HTTP and read with prometheus-client's parser."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hosted_engine.broker.metrics import EngineWatch, MetricsServer, MetricsSources
from hosted_engine.config.host import parse_listen
from hosted_engine.errors import ConfigError
from tests.unit.test_broker_contract import snapshot


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        family.name: [(s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_a_scrape_tells_the_brokers_view() -> None:
    watch = EngineWatch()
    watch.observe(100.0, 2)
    watch.observe(101.0, None)  # the engine host died...
    watch.observe(104.0, 3)  # ...and host 3 took over: down since last seen up, 4 s
    watch.switchovers = 2
    sources = MetricsSources(
        host_id=1,
        snapshot=snapshot,
        agent=lambda: ("EngineDown", 3400, True),
        lease_state=lambda: "none",
        storage_read_seconds=lambda: 0.012,
        watch=watch,
        monotonic=lambda: 1240.0,
    )
    server = MetricsServer(("127.0.0.1", 0), sources)
    server.start()
    try:
        m = scrape(server.port)
    finally:
        server.close()
    assert m["hosted_engine_score"] == [({}, 3400.0)]
    assert m["hosted_engine_agent_state"] == [({"state": "EngineDown"}, 1.0)]
    assert m["hosted_engine_engine_vm_up"] == [({}, 0.0)]
    assert m["hosted_engine_hosts_alive"] == [({}, 2.0)]
    assert m["hosted_engine_lease_state"] == [({"state": "none"}, 1.0)]
    values = {labels["monitor"]: v for labels, v in m["hosted_engine_monitor_value"]}
    assert values["mem-free"] == 8192.0 and values["bridge"] == 1.0
    assert "engine-health" not in values  # not a number; its age and failure are shown
    ages = {labels["monitor"]: v for labels, v in m["hosted_engine_monitor_age_seconds"]}
    assert ages["engine-health"] == pytest.approx(10.0)
    failing = {labels["monitor"]: v for labels, v in m["hosted_engine_monitor_failing"]}
    assert failing["storage-domain"] == 1.0 and failing["network"] == 0.0
    assert m["hosted_engine_storage_read_seconds"] == [({}, 0.012)]
    assert m["hosted_engine_failovers"] == [({}, 1.0)]  # the parser drops _total
    assert m["hosted_engine_switchovers"] == [({}, 2.0)]
    assert m["hosted_engine_engine_downtime_seconds"] == [({}, 4.0)]


def test_downtime_runs_on_while_no_engine_is_up() -> None:
    watch = EngineWatch()
    assert watch.downtime(50.0) == 0.0  # nothing seen yet: no claim
    watch.observe(10.0, None)
    assert watch.downtime(15.5) == 5.5
    watch.observe(20.0, 1)
    assert watch.downtime(100.0) == 10.0 and watch.failovers == 0


@pytest.mark.parametrize("spec", ["9393", "host:", ":80", "h:0", "h:65536", "h:x", "h:٣"])
def test_a_bad_listen_address_is_one_line(spec: str) -> None:
    with pytest.raises(ConfigError, match="metrics_listen must be HOST:PORT"):
        parse_listen(spec)


def test_listen_addresses() -> None:
    assert parse_listen("") is None
    assert parse_listen("127.0.0.1:9393") == ("127.0.0.1", 9393)
    assert parse_listen("[::1]:9393") == ("::1", 9393)


def test_a_port_in_use_is_a_one_line_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sources = MetricsSources(
            host_id=1,
            snapshot=snapshot,
            agent=lambda: None,
            lease_state=lambda: "none",
            storage_read_seconds=lambda: None,
            watch=EngineWatch(),
            monotonic=lambda: 0.0,
        )
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            MetricsServer(("127.0.0.1", port), sources).start()
