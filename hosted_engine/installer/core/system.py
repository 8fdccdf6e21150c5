"""The main transaction, program detection, and the choice of service and package managers."""

from __future__ import annotations

import shlex

from hosted_engine.errors import InstallerUsageError

from .. import keys
from ..events import event
from ..plugin import Plugin
from ..stages import Priority, Stage
from ..system.packagers import AptPackager, DnfPackager, OfflinePackager
from ..system.services import (
    CallerServices,
    CommandServices,
    NoServices,
    RecordingServices,
    SystemdServices,
)

# PACKAGER/provider -> programs to look for, in order; "auto" falls back to offline.
PACKAGER_CHOICES = {"auto": ("dnf", "apt-get"), "dnf": ("dnf",), "apt": ("apt-get",), "offline": ()}
PACKAGERS = {"dnf": DnfPackager, "apt-get": AptPackager}


class SystemPlugin(Plugin):
    @event(stage=Stage.INIT, priority=Priority.HIGH, name="installer.core.packager.detection")
    def choose_packager(self) -> None:
        if self.context.providers_preset["packager"]:
            return
        choice = self.environment[keys.PACKAGER_PROVIDER]
        if choice not in PACKAGER_CHOICES:
            raise InstallerUsageError(f"{keys.PACKAGER_PROVIDER.name}: unknown packager {choice!r}")
        for program in PACKAGER_CHOICES[choice]:
            path = self.commands.find(program)
            if path is not None:
                packager = PACKAGERS[program]
                root = self.environment[keys.ROOT]
                self.context.packager = packager(self.context.execute, path, root)
                break
        else:
            if choice not in ("auto", "offline"):
                raise InstallerUsageError(f"packager {choice} requested but not found")
            self.context.packager = OfflinePackager()
        self.logger.debug("packager: %s", self.context.packager.name)

    @event(
        stage=Stage.INTERNAL_PACKAGES,
        priority=Priority.LAST,
        name="installer.core.packages.internal",
    )
    def internal_packages(self) -> None:
        self.context.packager.process()

    @event(stage=Stage.PROGRAMS, priority=Priority.FIRST, name="installer.core.command.detection")
    def detect_commands(self) -> None:
        self.commands.search_all()

    @event(stage=Stage.PROGRAMS, priority=Priority.HIGH, name="installer.core.services.detection")
    def choose_services(self) -> None:
        if self.context.providers_preset["services"]:
            return
        choice = self.environment[keys.SERVICES_PROVIDER]
        if choice == "recording":
            self.context.services = RecordingServices()
        elif choice == "command":
            self.context.services = self._command_services()
        elif choice == keys.SERVICES_CALLER:
            self.context.services = CallerServices()
        elif choice in ("auto", "systemd"):
            systemctl = self.commands.find("systemctl")
            execute = self.context.execute
            if systemctl and SystemdServices.available(execute, systemctl):
                self.context.services = SystemdServices(
                    execute, systemctl, self.environment[keys.ROOT]
                )
            elif choice == "systemd":
                raise InstallerUsageError("systemd requested but systemctl is not usable")
            else:
                self.context.services = NoServices()
        else:
            raise InstallerUsageError(f"{keys.SERVICES_PROVIDER.name}: unknown provider {choice!r}")

    def _command_services(self) -> CommandServices:
        raw = self.environment[keys.SERVICES_COMMAND]
        name = keys.SERVICES_COMMAND.name
        try:
            argv = shlex.split(raw or "")
        except ValueError as e:
            raise InstallerUsageError(f"{name}: cannot be split like a shell would: {e}") from None
        if not argv:
            raise InstallerUsageError(
                f"{keys.SERVICES_PROVIDER.name}=command needs {name}=str:'<program> [args]'"
            )
        return CommandServices(self.context.execute, argv)

    @event(stage=Stage.TRANSACTION_BEGIN, name="installer.core.transaction.prepare")
    def prepare(self) -> None:
        self.transaction.prepare()

    @event(stage=Stage.PACKAGES, priority=Priority.LAST, name="installer.core.packages.process")
    def packages(self) -> None:
        self.context.packager.process()

    @event(stage=Stage.TRANSACTION_END, name="installer.core.transaction.commit")
    def commit(self) -> None:
        self.transaction.commit()
