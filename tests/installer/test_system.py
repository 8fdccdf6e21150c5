"""Providers that touch the system, each exercised under a temporary root."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hosted_engine.errors import CommandError, PackagerError, ServiceError
from hosted_engine.installer import Environment, keys
from hosted_engine.installer.system.commands import Commands
from hosted_engine.installer.system.execute import Completed, Executor
from hosted_engine.installer.system.packagers import AptPackager, DnfPackager
from hosted_engine.installer.system.services import (
    CallerServices,
    RecordingServices,
    SystemdServices,
)

from .helpers import Installer


def executable(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_commands_are_searched_under_the_root(tmp_path: Path) -> None:
    env = Environment()
    for declared in keys.ALL:
        env.declare(declared, "test")
    env[keys.ROOT] = str(tmp_path)
    env[keys.COMMAND_PATH] = "/usr/sbin:/usr/bin"
    tool = executable(tmp_path / "usr" / "bin" / "tool", "exit 0")
    (tmp_path / "usr" / "sbin").mkdir()
    (tmp_path / "usr" / "sbin" / "tool").write_text("not executable")
    commands = Commands(env)
    commands.detect("tool")
    commands.detect("missing")
    assert env.get("COMMAND/tool") is None
    commands.search_all()
    assert env.get("COMMAND/tool") == str(tool)
    assert commands.require("tool") == str(tool)
    assert commands.find("missing") is None
    with pytest.raises(CommandError, match="Command 'missing' is required but missing"):
        commands.require("missing")


def test_a_preset_command_path_wins(tmp_path: Path) -> None:
    env = Environment()
    for declared in keys.ALL:
        env.declare(declared, "test")
    env.set("COMMAND/tool", "/opt/tool")
    Commands(env).detect("tool")
    assert Commands(env).require("tool") == "/opt/tool"


def test_executor_captures_and_checks() -> None:
    execute = Executor(logging.Logger("t"))
    result = execute(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert result == Completed(
        ("sh", "-c", "echo out; echo err >&2; exit 3"), 3, ("out",), ("err",)
    )
    assert execute(["cat"], input="fed\n").stdout == ("fed",)
    with pytest.raises(CommandError, match="Command 'false' failed to execute"):
        execute(["false"])
    with pytest.raises(CommandError, match="Command '/no/such' failed to execute"):
        execute(["/no/such"])


def test_systemd_services_through_systemctl(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    systemctl = executable(
        tmp_path / "systemctl",
        f"""echo "$@" >> {calls}
case "$*" in
  "show-environment") exit 0 ;;
  "show -p LoadState good") echo LoadState=loaded ;;
  "show -p LoadState bad") echo LoadState=not-found ;;
  "start bad") exit 5 ;;
  "is-active --quiet good") exit 0 ;;
  "is-active --quiet bad") exit 3 ;;
esac""",
    )
    execute = Executor(logging.Logger("t"))
    assert SystemdServices.available(execute, str(systemctl))
    services = SystemdServices(execute, str(systemctl), root="/")
    assert services.exists("good") and not services.exists("bad")
    assert services.status("good") and not services.status("bad")
    services.state("good", True)
    services.startup("good", True)
    services.restart("good")
    with pytest.raises(ServiceError, match="Failed to start service 'bad'"):
        services.state("bad", True)
    SystemdServices(execute, str(systemctl), root=str(tmp_path)).startup("good", False)
    assert calls.read_text().splitlines()[-5:] == [
        "start good",
        "enable good",
        "restart good",
        "start bad",
        f"--root={tmp_path} disable good",
    ]


def test_recording_services() -> None:
    services = RecordingServices(known={"sshd"})
    services.state("sshd", True)
    services.startup("sshd", True)
    assert services.status("sshd") and "sshd" in services.enabled
    with pytest.raises(ServiceError, match="Failed to start service 'nope'"):
        services.state("nope", True)
    assert services.calls == [("start", "sshd"), ("enable", "sshd"), ("start", "nope")]


def test_caller_services_change_nothing_and_say_stopped() -> None:
    """The lab's provider: every unit is there, none runs, and requests are only noted."""
    services = CallerServices()
    services.startup("hosted-engine-broker", True)
    services.state("hosted-engine-broker", True)
    services.restart("hosted-engine-agent")
    assert services.exists("anything") and not services.status("hosted-engine-broker")
    assert services.calls == [
        ("enable", "hosted-engine-broker"),
        ("start", "hosted-engine-broker"),
        ("restart", "hosted-engine-agent"),
    ]


class FakeExecutor:
    def __init__(self, rc: int = 0) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.rc = rc

    def __call__(self, args: object, **kwargs: object) -> Completed:
        argv = tuple(args)  # type: ignore[call-overload]
        self.calls.append(argv)
        return Completed(argv, self.rc, ("1.2-3",), ("E: broken",) if self.rc else ())


def test_packagers_queue_and_run_once() -> None:
    fake = FakeExecutor()
    apt = AptPackager(fake, "/usr/bin/apt-get", root="/srv/root")  # type: ignore[arg-type]
    apt.install(["a", "b"])
    apt.install(["a"])
    apt.remove(["c"])
    apt.process()
    apt.process()  # nothing queued: nothing run
    assert fake.calls == [
        ("/usr/bin/apt-get", "-y", "-q", "-oRootDir=/srv/root", "install", "a", "b"),
        ("/usr/bin/apt-get", "-y", "-q", "-oRootDir=/srv/root", "remove", "c"),
    ]
    assert apt.installed_version("a") == "1.2-3"
    dnf = DnfPackager(fake, "/usr/bin/dnf")  # type: ignore[arg-type]
    dnf.install(["x"])
    dnf.process()
    assert fake.calls[-1] == ("/usr/bin/dnf", "-y", "install", "x")
    broken = DnfPackager(FakeExecutor(rc=1), "/usr/bin/dnf")  # type: ignore[arg-type]
    broken.install(["x"])
    with pytest.raises(PackagerError, match="dnf could not install x: E: broken"):
        broken.process()


USES_PROVIDERS = """
from hosted_engine.installer import Plugin, Stage, event


class Uses(Plugin):
    @event(stage=Stage.PACKAGES)
    def install(self):
        self.packager.install(["vdsm"])

    @event(stage=Stage.CLOSEUP)
    def start(self):
        self.services.startup("ovirt-ha-agent", True)
        self.services.state("ovirt-ha-agent", True)
        self.logger.info("packages %s services %s", self.packager.processed, self.services.calls)
        self.logger.info("provider %s running %s", type(self.services).__name__,
                         self.services.status("ovirt-ha-agent"))


def create_plugins(context):
    Uses(context)
"""


def test_plugins_get_the_chosen_providers(installer: Installer) -> None:
    installer.group("uses", {"uses": USES_PROVIDERS})
    outcome = installer.run(["uses"])
    assert outcome.code == 0, outcome.stderr
    assert (
        "packages [('install', ('vdsm',))] services "
        "[('enable', 'ovirt-ha-agent'), ('start', 'ovirt-ha-agent')]"
    ) in outcome.stdout


def test_the_caller_provider_is_chosen_by_name(installer: Installer) -> None:
    installer.group("uses", {"uses": USES_PROVIDERS})
    outcome = installer.run(["uses"], f"SYSTEM/servicesProvider=str:{keys.SERVICES_CALLER}")
    assert outcome.code == 0, outcome.stderr
    assert "services [('enable', 'ovirt-ha-agent'), ('start', 'ovirt-ha-agent')]" in outcome.stdout
    assert "provider CallerServices running False" in outcome.stdout  # started: nothing


def test_without_a_service_manager_changes_fail_clearly(installer: Installer) -> None:
    installer.group("uses", {"uses": USES_PROVIDERS})
    empty = installer.tmp / "empty-path"
    empty.mkdir()
    outcome = installer.run(
        ["uses"], "SYSTEM/servicesProvider=str:auto", f"SYSTEM/commandPath=str:{empty}"
    )
    assert outcome.code == 1
    assert "no service manager is available to manage 'ovirt-ha-agent'" in outcome.stderr


ON_THE_HOST = """
from hosted_engine.installer import Plugin, Stage, event


class Host(Plugin):
    @event(stage=Stage.PACKAGES)
    def install(self):
        self.packager.install(["vdsm"])

    @event(stage=Stage.CLOSEUP)
    def start(self):
        self.services.startup("ovirt-ha-agent", True)
        self.services.state("ovirt-ha-agent", True)


def create_plugins(context):
    Host(context)
"""


def test_real_providers_are_found_under_the_root(installer: Installer) -> None:
    calls = installer.tmp / "calls"
    for program in ("dnf", "apt-get", "systemctl"):
        executable(installer.root / "usr" / "bin" / program, f'echo "{program} $*" >> {calls}')
    installer.group("host", {"host": ON_THE_HOST})
    outcome = installer.run(
        ["host"],
        "PACKAGER/provider=str:auto",
        "SYSTEM/servicesProvider=str:auto",
        "SYSTEM/commandPath=str:/usr/bin",
    )
    assert outcome.code == 0, outcome.stderr
    bin_dir = installer.root / "usr" / "bin"
    assert calls.read_text().splitlines() == [
        "systemctl show-environment",
        f"dnf -y --installroot={installer.root} install vdsm",
        f"systemctl --root={installer.root} enable ovirt-ha-agent",
        "systemctl start ovirt-ha-agent",
    ]
    assert f"ENV COMMAND/systemctl=str:{bin_dir}/systemctl" in outcome.log
