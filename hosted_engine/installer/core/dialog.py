"""Offers the customization and termination command lines and ends the dialog."""

from __future__ import annotations

from .. import keys
from ..dialogs.commands import CommandLine
from ..events import event
from ..plugin import Plugin
from ..stages import Priority, Stage


def _customization(self: DialogPlugin) -> bool:
    return self.environment[keys.CUSTOMIZATION]


class DialogPlugin(Plugin):
    def _command_line(self) -> CommandLine:
        ctx = self.context
        return CommandLine(
            self.dialog, self.environment, self.logger, ctx.run_log.read, lambda: ctx.exceptions
        )

    @event(
        stage=Stage.CUSTOMIZATION,
        name="installer.core.dialog.customization",
        condition=_customization,
    )
    def customization(self) -> None:
        self._command_line().customization()

    @event(
        stage=Stage.PRE_TERMINATE,
        name="installer.core.dialog.termination",
        condition=_customization,
    )
    def termination(self) -> None:
        self._command_line().termination()

    @event(
        stage=Stage.TERMINATE, priority=Priority.LAST + 10, name="installer.core.dialog.terminate"
    )
    def terminate(self) -> None:
        self.dialog.dialect.terminate()
