"""``--check-deployed`` and ``--check-liveliness``: exit codes and messages of the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli, HealthPage, MakeConf, assert_one_line_error

NOT_UP = "Hosted Engine is not up!"


def test_deployed(cli: Cli, make_conf: MakeConf) -> None:
    result = cli("--check-deployed", "--config", make_conf(vmid="some-vm"))
    assert (result.code, result.out, result.err) == (
        0,
        "The hosted engine has been deployed\n",
        "",
    )


def test_not_deployed_without_vmid(cli: Cli, conf: Path) -> None:
    result = cli("--check-deployed", "--config", conf)
    assert result.code == 1
    assert_one_line_error(result, "The hosted engine has not been deployed")


def test_not_deployed_without_conf(cli: Cli, tmp_path: Path) -> None:
    result = cli("--check-deployed", "--config", tmp_path / "absent.conf")
    assert result.code == 1
    assert_one_line_error(result, "The hosted engine has not been deployed")


def test_engine_up(cli: Cli, make_conf: MakeConf, health_page: HealthPage) -> None:
    result = cli("--check-liveliness", "--config", make_conf(engine_health_url=health_page.url))
    assert (result.code, result.out, result.err) == (0, "Hosted Engine is up!\n", "")


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, "DB Down"), (500, "DB Up!"), (404, "")],
    ids=["db-down", "server-error", "not-found"],
)
def test_engine_answering_badly_is_not_up(
    cli: Cli, make_conf: MakeConf, health_page: HealthPage, status: int, body: str
) -> None:
    health_page.status, health_page.body = status, body
    result = cli("--check-liveliness", "--config", make_conf(engine_health_url=health_page.url))
    assert result.code == 1
    assert_one_line_error(result, NOT_UP)


def test_closed_port_is_not_up(cli: Cli, make_conf: MakeConf, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/ovirt-engine/services/health"
    result = cli("--check-liveliness", "--config", make_conf(engine_health_url=url))
    assert result.code == 1
    assert_one_line_error(result, NOT_UP)


def test_fqdn_builds_the_health_url(cli: Cli, make_conf: MakeConf, health_page: HealthPage) -> None:
    """Without engine_health_url the reference's URL on the engine's FQDN is used."""
    port = health_page.url.split(":")[2].split("/")[0]
    result = cli("--check-liveliness", "--config", make_conf(fqdn=f"127.0.0.1:{port}"))
    assert result.code == 0


def test_no_fqdn_nor_url(cli: Cli, conf: Path) -> None:
    result = cli("--check-liveliness", "--config", conf)
    assert result.code == 2
    assert_one_line_error(result, "Incomplete configuration, missing FQDN of the hosted engine VM")


@pytest.mark.parametrize("content", [None, "host_id=1\nnot a pair\n"], ids=["missing", "garbage"])
def test_unreadable_conf(cli: Cli, tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "he.conf"
    if content is not None:
        path.write_text(content)
    result = cli("--check-liveliness", "--config", path)
    assert result.code == 2
    assert_one_line_error(result, "Error reading the configuration file")
