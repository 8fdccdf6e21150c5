"""Reads configuration and answer files, applies their sections on time, writes answers."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .. import configfiles, keys
from ..events import event
from ..loader import split_list
from ..plugin import Plugin
from ..stages import Priority, Stage

if TYPE_CHECKING:
    from ..context import Context


class ConfigPlugin(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.values = configfiles.ConfigValues()

    @event(stage=Stage.INIT, priority=Priority.HIGH - 10, name="installer.core.config.init")
    def init(self) -> None:
        env = self.environment
        system = [self.resolve(name) for name in split_list(env[keys.CONFIG_FILE_NAME])]
        appended = [os.path.abspath(n) for n in split_list(env[keys.CONFIG_FILE_APPEND])]
        paths = configfiles.expand(system, required=False)
        paths += configfiles.expand(appended, required=True)
        self.values = configfiles.read(paths)
        configfiles.apply(env, self.values.sections["default"], only_defaults=True)
        configfiles.apply(env, self.values.sections["init"], only_defaults=False)

    @event(stage=Stage.SETUP, priority=Priority.HIGH, name="installer.core.config.notes")
    def notes(self) -> None:
        self.dialog.note(f"Configuration files: {self.values.files}")

    @event(stage=Stage.CUSTOMIZATION, priority=Priority.HIGH, name="installer.core.config.override")
    def override(self) -> None:
        configfiles.apply(self.environment, self.values.sections["override"], only_defaults=False)

    @event(stage=Stage.CUSTOMIZATION, priority=Priority.LOW, name="installer.core.config.enforce")
    def enforce(self) -> None:
        configfiles.apply(self.environment, self.values.sections["enforce"], only_defaults=False)

    @event(
        stage=Stage.CLEANUP,
        priority=Priority.LAST,
        name="installer.core.answers.write",
        condition=lambda self: self.environment[keys.ANSWER_FILE] is not None,
    )
    def write_answers(self) -> None:
        path = self.environment[keys.ANSWER_FILE]
        assert path is not None
        configfiles.write_private(path, configfiles.answer_file_text(self.environment))
        self.dialog.note(f"Answer file written to {path}")
