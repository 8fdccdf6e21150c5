"""The dialect for a person at a terminal: aligned log lines, wrapped notes, prompts."""

from __future__ import annotations

import getpass
import shutil
import textwrap

from hosted_engine.errors import DialogInputError, InstallerUsageError

from .. import values
from . import protocol as p
from .dialect import Dialect, StringQuery

INDENT = " " * 10  # the width of "[ INFO  ] ", so notes line up with log messages
_COLOURS = {"INFO": "\033[32m", "WARNING": "\033[1;33m", "ERROR": "\033[1;31m"}
_RESET = "\033[0m"
END_OF_LIST = "."


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class HumanDialect(Dialect):
    retries_invalid_answers = True

    def _tty(self) -> bool:
        return _isatty(self._out)

    def _wrap(self, text: str) -> list[str]:
        width = max(40, shutil.get_terminal_size((80, 24)).columns - 16)
        lines: list[str] = []
        for line in text.splitlines() or [""]:
            wrapped = textwrap.wrap(
                line, width, break_long_words=False, break_on_hyphens=False
            ) or [""]
            lines += [f"{INDENT}{w}".rstrip() for w in wrapped]
        return lines

    def note(self, text: str) -> None:
        self.write_lines(self._wrap(text))

    def log(self, level: str, message: str) -> None:
        tag = f"{level:^7}"
        if self._tty() and level in _COLOURS:
            tag = f"{_COLOURS[level]}{tag}{_RESET}"
        first, *rest = message.splitlines() or [""]
        self.write_lines([f"[{tag}] {first}", *(f"{INDENT}{line}" for line in rest)])

    def _prompt(self, note: str, name: str, *, hidden: bool = False, quiet: bool = False) -> str:
        *lines, last = self._wrap(note)
        self.write_lines(lines)
        prompt = last if last.rstrip().endswith((":", "?")) else f"{last}:"
        if hidden and self._tty() and _isatty(self._in):
            self._logger.debug("DIALOG:RECEIVE    (hidden)")
            return getpass.getpass(f"{prompt} ")
        while True:
            with self._lock:
                self._out.write(f"{prompt} ")
                self._out.flush()
            try:
                answer = self.read_line(name, quiet=hidden or quiet)
                break
            except DialogInputError as e:  # a person can type it again
                self.log("ERROR", f"{e}; please answer again")
        if not _isatty(self._in):  # nobody saw it typed: show it, so the transcript reads well
            self.write_lines(["(hidden)" if hidden else answer])
        return answer

    def ask_string(self, query: StringQuery) -> str:
        return self._prompt(query.note, query.name, hidden=query.hidden, quiet=not query.log_answer)

    def ask_multi_string(self, name: str, note: str, *, quiet: bool = False) -> tuple[str, ...]:
        self.note(f"{note}\n(end with a line holding only '{END_OF_LIST}')")
        lines: list[str] = []
        while True:
            try:
                line = self.read_line(name, quiet=quiet)
            except DialogInputError as e:
                self.log("ERROR", f"{e}; that line was ignored, please enter it again")
                continue
            if line == END_OF_LIST:
                return tuple(lines)
            lines.append(line)

    def ask_value(self, name: str, note: str, *, quiet: bool = False) -> object:
        while True:
            answer = self._prompt(f"{note} (type:value, e.g. int:5)", name, quiet=quiet)
            try:
                return values.decode(answer)
            except InstallerUsageError as e:
                self.log("ERROR", str(e))

    def ask_confirm(self, name: str, description: str, note: str) -> bool:
        while True:
            answer = p.is_yes(self._prompt(f"{note or description} (yes/no)", name))
            if answer is not None:
                return answer
            self.log("ERROR", "Please answer yes or no")
