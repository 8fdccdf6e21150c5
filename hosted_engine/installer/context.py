"""One run: its environment, plugins, providers, dialog and log, and how it starts.

Nothing here is process-global: the streams, the log and the providers belong to the
context, so a program (or a test) can run several installers one after another in one
process. The command-line entry point in :mod:`.cli` adds what only a process can do
(signals, file descriptors, exit codes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from hosted_engine.errors import (
    DialogError,
    InstallerError,
    InstallerInterrupted,
    InstallerUsageError,
    PluginLoadError,
)

from . import core, keys
from .dialogs.dialect import Dialect
from .dialogs.dialog import Dialog
from .dialogs.human import HumanDialect
from .dialogs.machine import MachineDialect
from .environment import Environment
from .events import BoundEvent, bind_events
from .loader import load_groups, split_list
from .logs import RunLog
from .runner import EXIT_ERROR, EXIT_LOAD_FAILURE, Runner, RunResult
from .sequence import build_sequence
from .system.commands import Commands
from .system.execute import Executor
from .system.packagers import OfflinePackager, Packager
from .system.services import NoServices, Services
from .transaction import Transaction
from .values import Assignment

if TYPE_CHECKING:
    from .plugin import Plugin

DIALECTS: dict[str, type[Dialect]] = {"human": HumanDialect, "machine": MachineDialect}


class Context:
    def __init__(
        self,
        arguments: Iterable[Assignment] = (),
        *,
        stdin: TextIO,
        stdout: TextIO,
        services: Services | None = None,
        packager: Packager | None = None,
    ) -> None:
        self.environment = Environment()
        for declared in keys.ALL:
            self.environment.declare(declared, owner="the installer core")
        self.run_log = RunLog(lambda: self.environment.secret_values)
        self.logger: logging.Logger = self.run_log.logger
        self.execute = Executor(self.logger)
        self.commands = Commands(self.environment)
        self.services: Services = services or NoServices()
        self.packager: Packager = packager or OfflinePackager()
        self.providers_preset = {"services": services is not None, "packager": packager is not None}
        self.transaction = Transaction("main", self.logger)
        self.modified_files: list[str] = []
        self.exceptions: list[BaseException] = []
        self.plugins: list[Plugin] = []
        self.sequence: list[BoundEvent] = []
        self.interrupted: str | None = None
        self.interruptible = False
        self.events: list[BoundEvent] = []
        self._arguments = list(arguments)
        self._streams = (stdin, stdout)
        self._dialog: Dialog | None = None

    @property
    def dialog(self) -> Dialog:
        if self._dialog is None:
            raise InstallerError("the dialog is not open yet")
        return self._dialog

    def register(self, plugin: Plugin) -> None:
        self.plugins.append(plugin)
        self.events += bind_events(plugin)

    # --- start-up -------------------------------------------------------------------------

    def apply(self, assignments: Sequence[Assignment], *, strict: bool = True) -> list[Assignment]:
        """Apply assignments in order; undeclared keys are returned, or an error if ``strict``."""
        deferred = []
        for assignment in assignments:
            if not self.environment.is_declared(assignment.key):
                if strict:
                    self.environment.definition(assignment.key)  # raises, with a hint
                deferred.append(assignment)
                continue
            value = assignment.combine(self.environment.get(assignment.key))
            self.environment.set(assignment.key, value)
        return deferred

    def load(self) -> None:
        """Open the dialog, create every plugin and order their events."""
        rest = self.apply(self._arguments, strict=False)
        self._open_dialog()
        core.create_plugins(self)
        env = self.environment
        load_groups(self, split_list(env[keys.PLUGIN_GROUPS]), split_list(env[keys.PLUGIN_PATH]))
        self.apply(rest)
        self.sequence = build_sequence(
            self.events,
            ignore_missing=env[keys.IGNORE_MISSING_BEFORE_AFTER],
            warn=self.logger.warning,
        )

    def _open_dialog(self) -> None:
        name = self.environment[keys.DIALECT]
        dialect_class = DIALECTS.get(name)
        if dialect_class is None:
            raise InstallerUsageError(
                f"{keys.DIALECT.name}: unknown dialect {name!r} (known: {', '.join(DIALECTS)})"
            )
        dialect = dialect_class(*self._streams, self.logger)
        self.run_log.attach_dialect(dialect)
        self._dialog = Dialog(
            dialect,
            self.environment,
            self.logger,
            lambda: self.environment[keys.AUTO_ACCEPT_DEFAULT],
        )

    # --- running --------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Load and run; never raises for expected failures, which end up in the result."""
        try:
            self.load()
        except InstallerError as e:
            code = EXIT_LOAD_FAILURE if isinstance(e, PluginLoadError) else EXIT_ERROR
            return self._failed_to_start(e, code)
        return Runner(self).run()

    def _failed_to_start(self, error: InstallerError, code: int) -> RunResult:
        if self._dialog is not None and isinstance(self._dialog.dialect, MachineDialect):
            with contextlib.suppress(DialogError):
                self._dialog.dialect.log("ERROR", f"Internal error: {error}")
                self._dialog.dialect.terminate()
        return RunResult(code, True, message=str(error))

    def interrupt(self, reason: str) -> None:
        """Called from a signal handler: stop the current event if it may be stopped."""
        self.interrupted = reason
        if self.interruptible:
            self.interruptible = False
            raise InstallerInterrupted(f"interrupted by {reason}")

    def close(self) -> None:
        self.run_log.close(remove=self.environment[keys.LOG_REMOVE_AT_EXIT])
