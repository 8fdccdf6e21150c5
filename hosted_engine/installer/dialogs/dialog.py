"""What plugins talk to: questions with defaults, validation, replayable answers, progress.

Every answer is recorded as ``QUESTION/<name>`` (a stable name, not the reference's
order-dependent ``QUESTION/<n>/<name>``), so an answer file replays a run; a recorded answer
is used instead of asking, and it is validated like a typed one. Hidden answers are
recorded as secrets, so they never reach a log or an answer file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from hosted_engine.errors import InstallerUsageError

from ..environment import Environment
from . import protocol
from .dialect import Dialect, StringQuery

QUESTION_PREFIX = "QUESTION/"

Validator = Callable[[str], "str | None"]  # returns an error message, or None if fine


def default_note(name: str, valid_values: object, default: object) -> str:
    note = f"\nPlease specify '{name}'"
    if valid_values:
        note += " (@VALUES@)"
    if default is not None:
        note += " [@DEFAULT@]"
    return note


class Dialog:
    def __init__(
        self,
        dialect: Dialect,
        environment: Environment,
        logger: logging.Logger,
        auto_accept_default: Callable[[], bool] = lambda: False,
    ) -> None:
        self.dialect = dialect
        self._env = environment
        self._logger = logger
        self._auto_accept_default = auto_accept_default

    # --- output ---------------------------------------------------------------------------

    def note(self, text: str = "") -> None:
        self.dialect.note(text)

    def display_value(self, name: str, value: object) -> None:
        self.dialect.display_value(name, value)

    def display_multi_string(self, name: str, lines: Iterable[str]) -> None:
        self.dialect.display_multi_string(name, lines)

    @contextmanager
    def progress(self, text: str, interval: float = 30.0) -> Iterator[None]:
        """Announce a long step, say it is still running every ``interval`` seconds (so a
        remote manager's inactivity timeout does not fire), and report how long it took."""
        started = time.monotonic()
        stop = threading.Event()

        def keep_alive() -> None:
            while not stop.wait(interval):
                self._logger.info("%s: still running (%.0f s)", text, time.monotonic() - started)

        self._logger.info("%s...", text)
        ticker = threading.Thread(target=keep_alive, name="progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
        self._logger.info("%s: done (%.1f s)", text, time.monotonic() - started)

    # --- questions ------------------------------------------------------------------------

    def query_string(
        self,
        name: str,
        note: str | None = None,
        *,
        valid_values: Iterable[str] | None = None,
        case_sensitive: bool = True,
        hidden: bool = False,
        default: str | None = None,
        validate: Validator | None = None,
        record: bool = True,
    ) -> str:
        """Ask for one line. An empty answer takes ``default``; invalid answers are asked
        again by a person and fail the run for a manager (it cannot retry)."""
        valid = tuple(valid_values) if valid_values is not None else None
        text = _substitute(note or default_note(name, valid, default), valid, default)

        def check(answer: str) -> str:
            if answer == "" and default is not None:
                answer = default
            if valid:
                matches = [v for v in valid if _same(v, answer, case_sensitive)]
                if not matches:
                    shown = "(hidden)" if hidden else repr(answer)
                    raise InstallerUsageError(
                        f"invalid value {shown} for {name}; valid values: {', '.join(valid)}"
                    )
                answer = matches[0]
            elif answer == "":
                raise InstallerUsageError(f"please specify a value for {name}")
            problem = validate(answer) if validate else None
            if problem:
                raise InstallerUsageError(f"invalid value for {name}: {problem}")
            return answer

        preset = self._preset(name, record, text, hidden, default)
        if preset is not None:
            return check(str(preset))
        while True:
            raw = self.dialect.ask_string(StringQuery(name, text, default, valid, hidden))
            if hidden and raw:
                self._env.hide(raw)
            try:
                answer = check(raw)
                break
            except InstallerUsageError as e:
                if not self.dialect.retries_invalid_answers:
                    raise
                self._logger.debug("asking again: %s", e)
                self.dialect.log("ERROR", str(e))
        self._record(name, answer, record, hidden)
        return answer

    def query_multi_string(
        self, name: str, note: str | None = None, *, hidden: bool = False, record: bool = True
    ) -> tuple[str, ...]:
        text = note or default_note(name, None, None)
        preset = self._preset(name, record, text, hidden, None)
        if preset is not None:
            return preset if isinstance(preset, tuple) else tuple(str(preset).splitlines())
        answer = self.dialect.ask_multi_string(name, text, quiet=hidden)
        self._record(name, answer, record, hidden)
        return answer

    def query_value(
        self, name: str, note: str | None = None, *, hidden: bool = False, record: bool = True
    ) -> object:
        text = note or default_note(name, None, None)
        preset = self._preset(name, record, text, hidden, None)
        if preset is not None:
            return preset
        answer = self.dialect.ask_value(name, text, quiet=hidden)
        self._record(name, answer, record, hidden)
        return answer

    def confirm(
        self, name: str, description: str, note: str | None = None, *, record: bool = True
    ) -> bool:
        preset = self._preset(name, record, note or description, False, None)
        if preset is not None:
            answer = preset if isinstance(preset, bool) else protocol.is_yes(str(preset))
            if answer is None:
                raise InstallerUsageError(f"recorded answer for {name} is not yes or no")
            return answer
        answer = self.dialect.ask_confirm(name, description, note or "")
        self._record(name, answer, record, False)
        return answer

    # --- recorded answers -----------------------------------------------------------------

    def _preset(
        self, name: str, record: bool, note: str, hidden: bool, default: str | None
    ) -> object:
        recorded = QUESTION_PREFIX + name
        if record and recorded in self._env:
            value = self._env.get(recorded)
            if hidden:
                self._env.mark_secret(recorded)
            shown = "(hidden)" if self._env.is_secret(recorded) else str(value)
            self.dialect.provided_answer(note, shown)
            return value
        if default is not None and self._auto_accept_default():
            self.dialect.provided_answer(note, "(hidden)" if hidden else default)
            return default
        return None

    def _record(self, name: str, answer: object, record: bool, hidden: bool) -> None:
        if hidden:
            for item in answer if isinstance(answer, tuple) else (answer,):
                if item is not None:
                    self._env.hide(str(item))
        if record:
            self._env.set(QUESTION_PREFIX + name, answer, secret=hidden)


def _same(valid: str, answer: str, case_sensitive: bool) -> bool:
    return valid == answer if case_sensitive else valid.lower() == answer.lower()


def _substitute(note: str, valid: tuple[str, ...] | None, default: str | None) -> str:
    note = note.replace("@VALUES@", ", ".join(valid or ()))
    return note.replace("@DEFAULT@", default if default is not None else "")
