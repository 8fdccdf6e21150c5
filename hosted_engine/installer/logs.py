"""Per-run logging that never touches the global logging tree, and never shows a secret.

Each run gets its own unregistered :class:`logging.Logger`, so two runs in one process (tests,
an embedding program) do not share handlers. Records are kept in memory until the log file
is opened at BOOT, so nothing said before that is lost. Every line is scrubbed of the current
secret values as it is written; environment dumps do better and never format secrets at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable

from .dialogs.dialect import Dialect
from .environment import FILTERED

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(module)s.%(funcName)s:%(lineno)d %(message)s"
_PRIVATE_KEY = re.compile(r"(BEGIN [A-Z ]*PRIVATE KEY-+)(.*?)(-+END [A-Z ]*PRIVATE KEY)", re.S)

Secrets = Callable[[], frozenset[str]]


def scrub(text: str, secrets: frozenset[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, FILTERED)
    return _PRIVATE_KEY.sub(rf"\1{FILTERED}\3", text)


class ScrubbingFormatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: Secrets) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        zone = time.strftime("%z", time.localtime(record.created))
        return f"{stamp},{int(record.msecs):03d}{zone}"

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self._secrets())


class DialectHandler(logging.Handler):
    """INFO and above go to the person or manager on the dialog."""

    def __init__(self, dialect: Dialect, secrets: Secrets) -> None:
        super().__init__(logging.INFO)
        self._dialect = dialect
        self.setFormatter(ScrubbingFormatter("%(message)s", secrets))

    def emit(self, record: logging.LogRecord) -> None:
        record_copy = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        try:
            self._dialect.log(record.levelname, self.format(record_copy))
        except Exception:  # a broken dialog must not turn logging into a new failure
            self.handleError(record)


class _Buffer(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class RunLog:
    """The logger of one run, its log file and its dialog handler."""

    def __init__(self, secrets: Secrets) -> None:
        self.logger = logging.Logger("installer", logging.DEBUG)
        self.logger.propagate = False
        self.path: str | None = None
        self._secrets = secrets
        self._buffer: _Buffer | None = _Buffer()
        self.logger.addHandler(self._buffer)
        self._file: logging.FileHandler | None = None

    def open_file(self, path: str) -> None:
        """Start writing to ``path`` (mode 0600: logs may hold private details)."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        self._file = logging.FileHandler(path, encoding="utf-8")
        self._file.setFormatter(ScrubbingFormatter(FILE_FORMAT, self._secrets))
        if self._buffer is not None:
            self.logger.removeHandler(self._buffer)
            for record in self._buffer.records:
                self._file.handle(record)
            self._buffer = None
        self.logger.addHandler(self._file)
        self.path = path

    def attach_dialect(self, dialect: Dialect) -> None:
        self.logger.addHandler(DialectHandler(dialect, self._secrets))

    def read(self) -> list[str]:
        if self._file is None or self.path is None:
            return []
        self._file.flush()
        with open(self.path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()

    def close(self, remove: bool = False) -> None:
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()
        self._buffer = self._file = None
        if remove and self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
