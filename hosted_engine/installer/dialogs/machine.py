"""The installer's end of the machine dialog (see :mod:`.protocol` for the strings)."""

from __future__ import annotations

from hosted_engine.errors import DialogError, InstallerAborted, InstallerUsageError

from .. import values
from . import protocol as p
from .dialect import Dialect, StringQuery


def note_lines(text: str) -> list[str]:
    return [f"{p.NOTE} {line}".rstrip() for line in text.splitlines() or [""]]


class MachineDialect(Dialect):
    display_prefix = "***"

    def note(self, text: str) -> None:
        self.write_lines(note_lines(text))

    def log(self, level: str, message: str) -> None:
        flat = " ".join(message.splitlines())
        self.write_lines([f"{p.LOG}{level} {flat}"])

    def _ask(self, name: str, note: str, extras: list[str], query: str) -> None:
        self.write_lines(
            [f"{p.QUERY_START} {name}", *note_lines(note), *extras, query, f"{p.QUERY_END} {name}"],
            trace=True,
        )

    def ask_string(self, query: StringQuery) -> str:
        extras = []
        if query.default is not None:
            extras.append(f"{p.QUERY_DEFAULT} {query.default}")
        if query.valid_values:
            extras.append(f"{p.QUERY_VALID_VALUES} {p.escape_valid_values(query.valid_values)}")
        extras.append(f"{p.QUERY_HIDDEN} {'TRUE' if query.hidden else 'FALSE'}")
        self._ask(query.name, query.note, extras, f"{p.QUERY_STRING} {query.name}")
        return self.read_line(query.name, quiet=query.hidden or not query.log_answer)

    def ask_multi_string(self, name: str, note: str, *, quiet: bool = False) -> tuple[str, ...]:
        header = f"{p.QUERY_MULTI_STRING} {name} {p.BOUNDARY} {p.ABORT_BOUNDARY}"
        self._ask(name, note, [], header)
        lines: list[str] = []
        while True:
            line = self.read_line(name, quiet=quiet)
            if line == p.BOUNDARY:
                return tuple(lines)
            if line == p.ABORT_BOUNDARY:
                raise InstallerAborted(f"aborted by the manager at {name}")
            lines.append(line)

    def ask_value(self, name: str, note: str, *, quiet: bool = False) -> object:
        self._ask(name, note, [], f"{p.QUERY_VALUE} {name}")
        reply = self.read_line(name, quiet=quiet)
        if reply == f"{p.REPLY_ABORT} {name}":
            raise InstallerAborted(f"aborted by the manager at {name}")
        verb, _, rest = reply.partition(" ")
        answered, sep, typed = rest.partition("=")
        if verb != p.REPLY_VALUE or answered != name or not sep:
            raise DialogError(f"protocol error: expected 'VALUE {name}=type:value', got {reply!r}")
        try:
            return values.decode(typed)
        except InstallerUsageError as e:
            raise DialogError(f"protocol error in the answer to {name}: {e}") from None

    def ask_confirm(self, name: str, description: str, note: str) -> bool:
        lines = [f"{p.CONFIRM} {name} {description}"]
        if note.strip():
            lines += note_lines(note)
        self.write_lines([*lines, *note_lines(p.confirm_note(name))], trace=True)
        reply = self.read_line(name)
        if reply == f"{p.REPLY_ABORT} {name}":
            raise InstallerAborted(f"aborted by the manager at {name}")
        prefix = f"{p.REPLY_CONFIRM} {name}="
        answer = p.is_yes(reply[len(prefix) :]) if reply.startswith(prefix) else None
        if answer is None:
            raise DialogError(f"protocol error: expected '{prefix}yes|no', got {reply!r}")
        return answer

    def events_planned(self, descriptions: list[str]) -> None:
        self.write_lines(
            [
                p.EVENTS_LIST_START,
                *(f"{p.EVENTS_LIST_ENTRY} {d}" for d in descriptions),
                p.EVENTS_LIST_END,
            ]
        )

    def event_started(self, description: str) -> None:
        self.write_lines([f"{p.EVENT_START} {description}"])

    def event_ended(self, description: str) -> None:
        self.write_lines([f"{p.EVENT_END} {description}"])

    def terminate(self) -> None:
        """Say ``***TERMINATE``; nothing may follow it, so later output is dropped."""
        self.write_lines([p.TERMINATE], trace=True)
        self._closed = True
