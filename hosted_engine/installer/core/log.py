"""Opens the run's log file at BOOT and closes the run with a one-line verdict."""

from __future__ import annotations

import os
import secrets
import string
import time
from importlib import metadata

from .. import keys
from ..events import event
from ..plugin import Plugin
from ..stages import Priority, Stage

OPEN = "installer.core.log.open"


def version() -> str:
    try:
        return metadata.version("hosted-engine")
    except metadata.PackageNotFoundError:
        return "unknown"


class LogPlugin(Plugin):
    @event(stage=Stage.BOOT, priority=Priority.FIRST, name=OPEN)
    def open(self) -> None:
        """Products may set ``CORE/logDir``/``CORE/logFileNamePrefix`` in BOOT before this."""
        env = self.environment
        path = env[keys.LOG_FILE_NAME]
        if path is None:
            suffix = "".join(
                secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6)
            )
            stamp = time.strftime("%Y%m%d%H%M%S")
            name = f"{env[keys.LOG_FILE_NAME_PREFIX]}-{stamp}-{suffix}.log"
            path = os.path.join(env[keys.LOG_DIR], name)
            env[keys.LOG_FILE_NAME] = path
        self.context.run_log.open_file(path)
        self.logger.debug("SEQUENCE DUMP - BEGIN")
        for item in self.context.sequence:
            self.logger.debug("%s", item.describe())
        self.logger.debug("SEQUENCE DUMP - END")
        self.logger.debug("ENVIRONMENT DUMP - BEGIN")
        for name in env.names():
            self.logger.debug("ENV %s=%s", name, env.display(name))
        self.logger.debug("ENVIRONMENT DUMP - END")

    @event(stage=Stage.SETUP, priority=Priority.HIGH, name="installer.core.log.notes")
    def notes(self) -> None:
        self.dialog.note(f"Log file: {self.context.run_log.path}")
        self.dialog.note(f"Version: {keys.PRODUCT}-{version()}")

    @event(stage=Stage.TERMINATE, priority=Priority.LAST, name="installer.core.log.verdict")
    def verdict(self) -> None:
        env = self.environment
        if not env[keys.ERROR]:
            self.logger.info("Execution of %s completed successfully", keys.PRODUCT)
        elif env[keys.ABORTED]:
            self.logger.warning(
                "Execution of %s aborted; log: %s", keys.PRODUCT, self.context.run_log.path
            )
        else:
            self.logger.error(
                "Execution of %s failed; log: %s", keys.PRODUCT, self.context.run_log.path
            )
