"""The customization and termination command line a manager uses to read and set values.

With ``DIALOG/customization=bool:True`` the run stops at CUSTOMIZATION (until ``install``)
and at PRE_TERMINATE (until ``quit``) and answers commands; a bad command is reported and
the prompt comes back, it never fails the run.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from hosted_engine.errors import (
    DialogError,
    DialogInputError,
    EnvironmentKeyError,
    InstallerAborted,
    InstallerUsageError,
)

from .. import values
from ..environment import FILTERED, Environment
from ..logs import scrub
from . import protocol
from .dialect import StringQuery
from .dialog import Dialog

CUSTOMIZATION_NOTE = "Customization phase, use 'install' to proceed"
TERMINATION_NOTE = "Processing ended, use 'quit' to quit"

_OPTIONS = {
    "-k": "key",
    "--key": "key",
    "-v": "value",
    "--value": "value",
    "-t": "type",
    "--type": "type",
}


@dataclass(frozen=True)
class _Command:
    help: str
    run: Callable[[dict[str, str]], None]
    phases: tuple[str, ...] = ("customization", "termination")
    needs: tuple[str, ...] = ()


class CommandLine:
    def __init__(
        self,
        dialog: Dialog,
        environment: Environment,
        logger: logging.Logger,
        read_log: Callable[[], list[str]],
        exceptions: Callable[[], list[BaseException]],
    ) -> None:
        self._dialog = dialog
        self._env = environment
        self._logger = logger
        self._read_log = read_log
        self._exceptions = exceptions
        self._commands = {
            "help": _Command("Display available commands", self._help),
            "noop": _Command("No operation", lambda o: None),
            "abort": _Command("Abort process", self._abort, ("customization",)),
            "install": _Command(
                "Continue with the installation", lambda o: None, ("customization",)
            ),
            "quit": _Command("Quit", lambda o: None, ("termination",)),
            "env-show": _Command("Display environment", self._env_show),
            "env-get": _Command("Get environment variable (-k KEY)", self._env_get, needs=("key",)),
            "env-set": _Command(
                "Set environment variable (-k KEY -v VALUE [-t TYPE])",
                self._env_set,
                needs=("key", "value"),
            ),
            "env-query": _Command(
                "Query environment variable (-k KEY)", self._env_query, needs=("key",)
            ),
            "env-query-multi": _Command(
                "Query multi-string environment variable (-k KEY)",
                self._env_query_multi,
                needs=("key",),
            ),
            "log": _Command("Retrieve log file", self._log),
            "exception-show": _Command("Show exception information", self._exception_show),
        }
        self._phase = "customization"

    def customization(self) -> None:
        self._loop("customization", protocol.CUSTOMIZATION_COMMAND, CUSTOMIZATION_NOTE, "install")

    def termination(self) -> None:
        with contextlib.suppress(DialogError):  # the manager left after the run: nothing to do
            self._loop("termination", protocol.TERMINATION_COMMAND, TERMINATION_NOTE, "quit")

    def _loop(self, phase: str, name: str, note: str, finish: str) -> None:
        self._phase = phase
        while True:
            try:
                line = self._dialog.dialect.ask_string(StringQuery(name, note, log_answer=False))
            except DialogInputError as e:  # a bad command, not a broken channel: ask again
                self._logger.error("Invalid command line: %s", e)
                continue
            try:
                words = shlex.split(line)
            except ValueError as e:
                self._logger.error("Invalid command line %r: %s", line, e)
                continue
            if not words:
                continue
            if words[0] == finish:
                return
            try:
                self._dispatch(words[0], words[1:])
            except (InstallerUsageError, EnvironmentKeyError) as e:
                self._logger.error("%s: %s", words[0], e)

    def _dispatch(self, name: str, args: list[str]) -> None:
        command = self._commands.get(name)
        if command is None or self._phase not in command.phases:
            self._logger.error("Invalid command '%s'", name)
            return
        options = self._parse(name, args)
        if "value" in options and self._env.is_secret(options.get("key", "")):
            self._env.hide(options["value"])
        self._logger.debug("command: %s", shlex.join([name, *args]))
        missing = [n for n in command.needs if n not in options]
        if missing:
            raise InstallerUsageError(f"missing option(s): {', '.join(missing)}")
        command.run(options)

    @staticmethod
    def _parse(name: str, args: list[str]) -> dict[str, str]:
        options: dict[str, str] = {}
        words = iter(args)
        for word in words:
            flag, eq, inline = word.partition("=")
            field = _OPTIONS.get(flag)
            value = inline if eq else next(words, None)
            if field is None or value is None:
                raise InstallerUsageError(f"bad option {word!r}")
            options[field] = value
        return options

    # --- commands -------------------------------------------------------------------------

    def _help(self, options: dict[str, str]) -> None:
        lines = [
            f"{n} - {c.help}" for n, c in sorted(self._commands.items()) if self._phase in c.phases
        ]
        self._dialog.note("\n".join(lines))

    def _abort(self, options: dict[str, str]) -> None:
        raise InstallerAborted("aborted by the manager")

    def _env_show(self, options: dict[str, str]) -> None:
        self._dialog.note("\n".join(f"{n}={self._env.display(n)}" for n in self._env.names()))

    def _env_get(self, options: dict[str, str]) -> None:
        name = options["key"]
        value = FILTERED if self._env.is_secret(name) else self._env.get(name)
        self._dialog.display_value(name, value)

    def _env_set(self, options: dict[str, str]) -> None:
        name = options["key"]
        kind_name = options.get("type") or self._env.definition(name).kind.name
        typed = f"{kind_name}:{options['value']}"
        self._env.set(name, values.decode(typed))

    def _env_query(self, options: dict[str, str]) -> None:
        name = options["key"]
        hidden = self._env.is_secret(name)
        self._env.set(name, self._dialog.query_value(name, hidden=hidden, record=False))

    def _env_query_multi(self, options: dict[str, str]) -> None:
        name = options["key"]
        hidden = self._env.is_secret(name)
        self._env.set(name, self._dialog.query_multi_string(name, hidden=hidden, record=False))

    def _log(self, options: dict[str, str]) -> None:
        self._dialog.display_multi_string(protocol.LOG_DISPLAY_NAME, self._read_log())

    def _exception_show(self, options: dict[str, str]) -> None:
        for error in self._exceptions():
            text = "".join(traceback.format_exception(error)).rstrip()
            self._dialog.note(scrub(text, self._env.secret_values))
