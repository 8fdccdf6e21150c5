"""The manager's end of the machine dialog: parse what the installer says, answer it.

:class:`MachineDialogClient` works over any pair of async line streams (a local subprocess,
an SSH channel). Queries are answered from a mapping of names to answers, so a whole run
can be scripted; the customization command line is wrapped in methods (``env_get``,
``env_set``, ``download_log``, ...) that return once the installer prompts again.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hosted_engine.errors import DialogError

from .. import values
from . import protocol as p


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Log:
    level: str
    text: str


@dataclass(frozen=True)
class QueryString:
    name: str
    note: str = ""
    default: str | None = None
    valid_values: tuple[str, ...] | None = None
    hidden: bool = False


@dataclass(frozen=True)
class QueryMultiString:
    name: str
    note: str = ""


@dataclass(frozen=True)
class QueryValue:
    name: str
    note: str = ""


@dataclass(frozen=True)
class Confirm:
    name: str
    description: str


@dataclass(frozen=True)
class DisplayValue:
    name: str
    value: object


@dataclass(frozen=True)
class DisplayMultiString:
    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Terminate:
    pass


DialogEvent = (
    Note
    | Log
    | QueryString
    | QueryMultiString
    | QueryValue
    | Confirm
    | DisplayValue
    | DisplayMultiString
    | Terminate
)
Query = QueryString | QueryMultiString | QueryValue | Confirm
COMMAND_PROMPTS = (p.CUSTOMIZATION_COMMAND, p.TERMINATION_COMMAND)

ABORT = object()  # answer a query with this to abort the run there


class LineReader(Protocol):
    async def readline(self) -> str | bytes: ...


class LineWriter(Protocol):
    def write(self, data: Any) -> None: ...

    async def drain(self) -> None: ...


@dataclass
class _Frame:
    notes: list[str] = field(default_factory=list)
    default: str | None = None
    valid_values: tuple[str, ...] | None = None
    hidden: bool = False


class MachineDialogParser:
    """Turns the installer's lines into :data:`DialogEvent` objects."""

    def __init__(self, readline: Callable[[], Awaitable[str]]) -> None:
        self._readline = readline
        self._frame: _Frame | None = None

    async def _line(self) -> str:
        line = await self._readline()
        if not line:
            raise DialogError("Unexpected connection termination")
        return line.rstrip("\r\n")

    async def next_event(self) -> DialogEvent:
        while True:
            line = await self._line()
            if line.startswith("#"):
                text = line[len(p.NOTE) + 1 :] if line.startswith(f"{p.NOTE} ") else ""
                if self._frame is None:
                    return Note(text)
                self._frame.notes.append(text)
            elif line.startswith("**%"):
                self._framing(line)
            elif line.startswith("***"):
                return await self._record(line)
            else:
                raise DialogError(f"Invalid data received: {line!r}")

    def _framing(self, line: str) -> None:
        head, _, rest = line.partition(" ")
        if head == p.QUERY_START:
            self._frame = _Frame()
        elif head == p.QUERY_END:
            self._frame = None
        elif self._frame is not None and head == p.QUERY_DEFAULT:
            self._frame.default = rest
        elif self._frame is not None and head == p.QUERY_VALID_VALUES:
            self._frame.valid_values = p.unescape_valid_values(rest)
        elif self._frame is not None and head == p.QUERY_HIDDEN:
            self._frame.hidden = rest == "TRUE"
        # anything else (event markers, future framing) is ignored, as the protocol says

    async def _record(self, line: str) -> DialogEvent:
        head, _, rest = line.partition(" ")
        frame = self._frame or _Frame()
        note = "\n".join(frame.notes)
        if line.startswith(p.LOG):
            level, _, text = line[len(p.LOG) :].partition(" ")
            return Log(level, text)
        if head == p.QUERY_STRING:
            return QueryString(rest, note, frame.default, frame.valid_values, frame.hidden)
        if head == p.QUERY_MULTI_STRING:
            return QueryMultiString(rest.split(" ")[0], note)
        if head == p.QUERY_VALUE:
            return QueryValue(rest, note)
        if head == p.CONFIRM:
            name, _, description = rest.partition(" ")
            return Confirm(name, description)
        if head == p.DISPLAY_VALUE:
            name, _, typed = rest.partition("=")
            return DisplayValue(name, values.decode(typed))
        if head == p.DISPLAY_MULTI_STRING:
            name, _, boundary = rest.partition(" ")
            lines = []
            while (item := await self._line()) != boundary:
                lines.append(item)
            return DisplayMultiString(name, tuple(lines))
        if line == p.TERMINATE:
            return Terminate()
        raise DialogError(f"Invalid data received: {line!r}")


Answers = Mapping[str, object]


class MachineDialogClient:
    """Drives one run. ``answers`` maps query names to answers (a value, :data:`ABORT`, or a
    callable taking the query); with ``accept_defaults`` unanswered string queries that have a
    default take it. Anything else unanswered is a :class:`DialogError`."""

    def __init__(
        self,
        readline: Callable[[], Awaitable[str]],
        write: Callable[[str], Awaitable[None]],
        *,
        answers: Answers | None = None,
        accept_defaults: bool = False,
    ) -> None:
        self._parser = MachineDialogParser(readline)
        self._write = write
        self.answers: dict[str, object] = dict(answers or {})
        self.accept_defaults = accept_defaults
        self.transcript: list[DialogEvent] = []
        self.terminated = False
        self._prompt: QueryString | None = None

    @classmethod
    def over_streams(
        cls, reader: LineReader, writer: LineWriter, *, binary: bool, **kwargs: Any
    ) -> MachineDialogClient:
        """A client on async streams; ``binary`` says whether the writer takes bytes."""

        async def readline() -> str:
            line = await reader.readline()
            return line.decode("utf-8") if isinstance(line, bytes) else line

        async def write(text: str) -> None:
            writer.write(text.encode("utf-8") if binary else text)
            await writer.drain()

        return cls(readline, write, **kwargs)

    # --- low level ------------------------------------------------------------------------

    async def next_event(self) -> DialogEvent:
        event = await self._parser.next_event()
        self.transcript.append(event)
        if isinstance(event, Terminate):
            self.terminated = True
        return event

    async def send(self, *lines: str) -> None:
        for line in lines:
            if "\n" in line:
                raise DialogError(f"a reply cannot hold a newline: {line!r}")
        await self._write("".join(f"{line}\n" for line in lines))

    async def answer(self, query: Query, answer: object) -> None:
        if callable(answer):
            answer = answer(query)
        name = query.name
        if isinstance(query, QueryString):
            if answer is ABORT:
                raise DialogError(f"a string query ({name}) cannot be aborted")
            await self.send(str(answer))
        elif isinstance(query, QueryMultiString):
            if answer is ABORT:
                await self.send(p.ABORT_BOUNDARY)
            else:
                lines = answer.splitlines() if isinstance(answer, str) else list(_iter(answer))
                await self.send(*lines, p.BOUNDARY)
        elif answer is ABORT:
            await self.send(f"{p.REPLY_ABORT} {name}")
        elif isinstance(query, QueryValue):
            await self.send(f"{p.REPLY_VALUE} {name}={values.encode(answer)}")
        else:
            await self.send(f"{p.REPLY_CONFIRM} {name}={'yes' if answer else 'no'}")

    async def _answer_from_policy(self, query: Query) -> None:
        if query.name in self.answers:
            await self.answer(query, self.answers[query.name])
        elif isinstance(query, QueryString) and self.accept_defaults and query.default is not None:
            await self.send("")
        else:
            raise DialogError(f"no answer for {type(query).__name__} {query.name}")

    # --- command line ---------------------------------------------------------------------

    async def next_prompt(self) -> QueryString | None:
        """Answer queries until the installer offers its command line (or ends: None)."""
        if self._prompt is not None:
            return self._prompt
        while not self.terminated:
            event = await self.next_event()
            if isinstance(event, QueryString) and event.name in COMMAND_PROMPTS:
                self._prompt = event
                return event
            if isinstance(event, QueryString | QueryMultiString | QueryValue | Confirm):
                await self._answer_from_policy(event)
        return None

    async def command(self, line: str) -> list[DialogEvent]:
        """Run one command line; returns what the installer said before prompting again."""
        if await self.next_prompt() is None:
            raise DialogError(f"the installer ended before the command {line!r}")
        self._prompt = None
        start = len(self.transcript)
        await self.send(line)
        prompted = await self.next_prompt() is not None
        return self.transcript[start : len(self.transcript) - prompted]

    async def env_get(self, name: str) -> object:
        for event in await self.command(f"env-get -k {shlex.quote(name)}"):
            if isinstance(event, DisplayValue | DisplayMultiString) and event.name == name:
                return event.value if isinstance(event, DisplayValue) else event.lines
        raise DialogError(f"env-get {name} failed: {self._errors()}")

    async def env_set(self, name: str, value: object) -> None:
        """Set any typed value (through ``env-query``, so every type survives the trip)."""
        multi = isinstance(value, tuple | list)
        self.answers[name] = value
        try:
            command = "env-query-multi" if multi else "env-query"
            said = await self.command(f"{command} -k {shlex.quote(name)}")
        finally:
            del self.answers[name]
        errors = [e for e in said if isinstance(e, Log) and e.level == "ERROR"]
        if errors:
            raise DialogError(f"env-set {name} failed: {errors[0].text}")

    async def download_log(self) -> tuple[str, ...]:
        for event in await self.command("log"):
            if isinstance(event, DisplayMultiString) and event.name == p.LOG_DISPLAY_NAME:
                return event.lines
        raise DialogError(f"log download failed: {self._errors()}")

    async def finish(self) -> list[DialogEvent]:
        """Proceed through the run to ``***TERMINATE``: ``install`` at customization, ``quit``
        at termination, queries answered from :attr:`answers`."""
        while (prompt := await self.next_prompt()) is not None:
            self._prompt = None
            await self.send("install" if prompt.name == p.CUSTOMIZATION_COMMAND else "quit")
        return self.transcript

    def logs(self, level: str | None = None) -> list[str]:
        return [e.text for e in self.transcript if isinstance(e, Log) and level in (None, e.level)]

    def _errors(self) -> str:
        return (self.logs("ERROR") or ["no reply"])[-1]


def _iter(answer: object) -> Iterable[str]:
    if isinstance(answer, Iterable):
        return (str(item) for item in answer)
    raise DialogError(f"a multi-string answer must be lines, got {answer!r}")
