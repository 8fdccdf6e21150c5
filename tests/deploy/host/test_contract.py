"""The key contract follows the daemons' configuration, the command services provider keeps
its exit-code convention, and a bundle carries what the group imports."""

from __future__ import annotations

import dataclasses
import logging
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from hosted_engine.agent.score import ScoreWeights
from hosted_engine.config import host as host_config
from hosted_engine.config.shared_formats import HOST_KEYS, OPTIONAL_HOST_KEYS
from hosted_engine.config.timing import Timing
from hosted_engine.deploy import HOST_DEPLOY_GROUP, PLUGIN_DIR, keys
from hosted_engine.errors import ServiceError
from hosted_engine.installer.bundle import build_bundle
from hosted_engine.installer.system.execute import Executor
from hosted_engine.installer.system.services import CommandServices


class Recording(Mapping[str, str]):
    """The values from_values needs, recording every name it looks up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self._values[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_every_name_hosted_engine_conf_accepts_has_a_key(tmp_path: Path) -> None:
    values = Recording({"host_id": "1", "sdUUID": "x", "storage": str(tmp_path)})
    host_config.from_values(values)
    accepted = (
        values.asked
        | set(HOST_KEYS)
        | set(OPTIONAL_HOST_KEYS)
        | {f"timing.{f.name}" for f in dataclasses.fields(Timing)}
        | {f"score.{f.name.replace('_', '-')}" for f in dataclasses.fields(ScoreWeights)}
    )
    missing = sorted(accepted - set(keys.CONFIG_NAMES))
    assert not missing, f"add to deploy/keys.py CONFIG_NAMES: {missing}"
    assert len(set(keys.CONFIG_NAMES)) == len(keys.CONFIG_NAMES)
    # and every name of the tuple is one the daemons read
    assert not sorted(set(keys.CONFIG_NAMES) - accepted)


def test_config_keys_refuse_multi_line_values() -> None:
    check = keys.CONFIG_KEYS["hostname"].check
    assert check is not None
    assert check("a\nb") is not None and check("a\0b") is not None and check("h1") is None


@pytest.fixture
def services(tmp_path: Path) -> CommandServices:
    script = tmp_path / "svc"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "status up") exit 0 ;; "status down") exit 3 ;; "exists up") exit 0 ;;\n'
        '  "start up") exit 0 ;;\n'
        '  *) echo "no unit $2" >&2; echo "(for $1)" >&2; exit 5 ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return CommandServices(Executor(logging.getLogger("test")), [str(script)])


def test_command_services_follow_the_exit_codes(services: CommandServices) -> None:
    assert services.status("up") is True
    assert services.status("down") is False
    assert services.exists("up") and not services.exists("gone")
    services.state("up", True)
    with pytest.raises(
        ServiceError,
        match=r"Failed to start service 'gone': .* exited 5: "
        r"no unit gone \(for start\)$",
    ):
        services.state("gone", True)
    with pytest.raises(ServiceError, match="Failed to query service 'gone'"):
        services.status("gone")


def test_a_bundle_carries_the_group_and_its_contract() -> None:
    names = build_bundle([HOST_DEPLOY_GROUP], [str(PLUGIN_DIR)]).names()
    assert "lib/hosted_engine/deploy/keys.py" in names
    assert "lib/hosted_engine/deploy/__init__.py" in names
    plugins = {n.split("/")[2] for n in names if n.startswith(f"plugins/{HOST_DEPLOY_GROUP}/")}
    assert plugins == {
        "clock",
        "firewall",
        "ha",
        "maintenance",
        "pki",
        "preflight",
        "services",
        "ssh",
        "undeploy",
    }


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python3")
def test_the_bundle_deploys_with_nothing_but_itself(tmp_path: Path) -> None:
    """The group run from a bundle by a bare interpreter (-I: no site-packages, no cwd),
    as on a fresh host: it imports nothing the bundle lacks."""
    import inspect
    import subprocess

    from hosted_engine.installer import bootstrap

    from .helpers import Host

    host = Host(tmp_path)
    bundle = build_bundle([HOST_DEPLOY_GROUP], [str(PLUGIN_DIR)])
    args = [a for a in host.args("VDSM/certificateEnrollment=str:none") if "pluginPath" not in a]
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", inspect.getsource(bootstrap), *args],
        input=bundle.framed(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert host.path(keys.CONFIG_FILE).read_text().count("host_id=1\n") == 1


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (None, "SYSTEM/servicesProvider=command needs SYSTEM/servicesCommand"),
        ("'unclosed", "SYSTEM/servicesCommand: cannot be split like a shell would"),
    ],
)
def test_a_bad_services_command_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str | None, message: str
) -> None:
    import io

    from hosted_engine.installer import cli

    args = ["SYSTEM/servicesProvider=str:command", f"CORE/logDir=str:{tmp_path}"]
    if command is not None:
        args.append(f"SYSTEM/servicesCommand=str:{command}")
    capsys.readouterr()
    assert cli.main(args, stdin=io.StringIO(""), stdout=io.StringIO()) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert message in line
