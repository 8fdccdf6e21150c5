"""What a dialect must do, and the line I/O both dialects share.

A dialect only renders and reads; deciding whether to ask at all, validating, retrying
and recording answers is the :class:`~hosted_engine.installer.dialogs.dialog.Dialog`'s job,
so both dialects behave the same apart from how they look on the wire.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from hosted_engine.errors import DialogError, DialogInputError

from .. import values
from . import protocol


def is_text(line: str) -> bool:
    """False for a NUL or for bytes that were not UTF-8 (read as lone surrogates by the
    ``surrogateescape`` error handler the command line reads its stdin with)."""
    return "\x00" not in line and not any("\udc80" <= ch <= "\udcff" for ch in line)


@dataclass(frozen=True)
class StringQuery:
    name: str
    note: str
    default: str | None = None
    valid_values: tuple[str, ...] | None = None
    hidden: bool = False
    log_answer: bool = True  # False: the caller logs it, after masking what must not be seen


class Dialect(abc.ABC):
    """Line-oriented channel; writes are serialised so progress ticks cannot interleave."""

    #: whether an invalid answer may be asked again (a person can retry, a manager cannot)
    retries_invalid_answers = False
    #: displays are ``D:VALUE ...`` for a person, ``***D:VALUE ...`` on the wire
    display_prefix = ""

    def __init__(self, stdin: TextIO, stdout: TextIO, logger: logging.Logger) -> None:
        self._in = stdin
        self._out = stdout
        self._logger = logger
        self._lock = threading.RLock()
        self._closed = False

    def write_lines(self, lines: Iterable[str], *, trace: bool = False) -> None:
        """Write whole lines; after the channel breaks once, later output is dropped."""
        with self._lock:
            if self._closed:
                return
            text = "".join(f"{line}\n" for line in lines)
            if trace:
                for line in text.splitlines():
                    self._logger.debug("DIALOG:SEND       %s", line)
            try:
                self._out.write(text)
                self._out.flush()
            except (OSError, ValueError) as e:
                self._closed = True
                raise DialogError(f"dialog channel closed: {e}") from None

    def read_line(self, waiting_for: str, *, quiet: bool = False) -> str:
        """One line of input; ``quiet`` keeps it out of the log (hidden or secret answers)."""
        if self._closed:
            raise DialogError(f"dialog channel closed while waiting for {waiting_for}")
        try:
            line = self._in.readline()
        except (OSError, ValueError) as e:
            raise DialogError(f"dialog channel closed: {e}") from None
        if not line:
            raise DialogError(f"end of input while waiting for {waiting_for}")
        line = line.rstrip("\r\n")
        if not is_text(line):
            self._logger.debug("DIALOG:RECEIVE    (a line that is not UTF-8 text, refused)")
            raise DialogInputError(
                f"the line given for {waiting_for} is not UTF-8 text (invalid bytes or a NUL)"
            )
        self._logger.debug("DIALOG:RECEIVE    %s", "(hidden)" if quiet else line)
        return line

    # --- rendering ------------------------------------------------------------------------

    @abc.abstractmethod
    def note(self, text: str) -> None: ...

    @abc.abstractmethod
    def log(self, level: str, message: str) -> None: ...

    @abc.abstractmethod
    def ask_string(self, query: StringQuery) -> str:
        """The raw answer; the empty string means "take the default"."""

    @abc.abstractmethod
    def ask_multi_string(self, name: str, note: str, *, quiet: bool = False) -> tuple[str, ...]: ...

    @abc.abstractmethod
    def ask_value(self, name: str, note: str, *, quiet: bool = False) -> object: ...

    @abc.abstractmethod
    def ask_confirm(self, name: str, description: str, note: str) -> bool: ...

    def display_value(self, name: str, value: object) -> None:
        if isinstance(value, tuple) or (isinstance(value, str) and "\n" in value):
            lines = value if isinstance(value, tuple) else tuple(value.split("\n"))
            self.display_multi_string(name, lines)
        else:
            prefix = self.display_prefix
            self.write_lines([f"{prefix}D:VALUE {name}={values.encode(value)}"], trace=True)

    def display_multi_string(self, name: str, lines: Iterable[str]) -> None:
        safe = (line.replace(protocol.BOUNDARY, protocol.EMBEDDED_BOUNDARY) for line in lines)
        header = f"{self.display_prefix}D:MULTI-STRING {name} {protocol.BOUNDARY}"
        self.write_lines([header, *safe, protocol.BOUNDARY])

    def provided_answer(self, note: str, shown: str) -> None:
        self.note(f"{note}\nprovided answer: {shown}" if note else f"provided answer: {shown}")

    def events_planned(self, descriptions: list[str]) -> None:
        """Announce the planned sequence (machine dialect only)."""
        return None

    def event_started(self, description: str) -> None:
        """Mark the start of an event (machine dialect only)."""
        return None

    def event_ended(self, description: str) -> None:
        """Mark the end of an event (machine dialect only)."""
        return None

    def terminate(self) -> None:
        """Tell the other side the dialog is over."""
        return None
