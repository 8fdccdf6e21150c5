"""Running a bundle on another host over SSH, driven by :class:`MachineDialogClient`.

One SSH channel carries everything: the bootstrap (as ``python3 -c``), then the framed
bundle on stdin, then the live dialog. Nothing is left on the host: the bootstrap unpacks
into a private temporary directory and removes it when the installer exits. The installer's
stderr is collected, never mistaken for protocol, and never fatal by itself (the
reference's engine failed a session on any stderr output).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from hosted_engine.errors import RemoteRunError

from .bundle import Bundle
from .dialogs.client import Answers, MachineDialogClient

BOOTSTRAP_SOURCE = (Path(__file__).parent / "bootstrap.py").read_text(encoding="utf-8")


@dataclass
class RemoteRun:
    client: MachineDialogClient
    stderr: list[str] = field(default_factory=list)
    exit_status: int | None = None


def remote_command(bundle: Bundle, arguments: Sequence[str], python: str, customize: bool) -> str:
    argv = [
        "DIALOG/dialect=str:machine",
        f"APPEND:BASE/pluginGroups=str:{':'.join(bundle.groups)}",
        *(["DIALOG/customization=bool:True"] if customize else []),
        *arguments,
    ]
    return shlex.join([python, "-c", BOOTSTRAP_SOURCE, *argv])


@asynccontextmanager
async def start_remote(
    connection: Any,
    bundle: Bundle,
    arguments: Sequence[str] = (),
    *,
    python: str = "python3",
    customize: bool = False,
    answers: Answers | None = None,
    accept_defaults: bool = False,
    exit_timeout: float = 30.0,
) -> AsyncIterator[RemoteRun]:
    """Start ``bundle`` on the host behind ``connection`` (an asyncssh connection); the
    run's exit status is set when the block ends."""
    command = remote_command(bundle, arguments, python, customize)
    try:
        process = await connection.create_process(command, encoding=None)
        process.stdin.write(bundle.framed())
        await process.stdin.drain()
    except (OSError, asyncssh.Error) as e:
        raise RemoteRunError(f"cannot start the installer remotely: {e}") from None
    client = MachineDialogClient.over_streams(
        process.stdout, process.stdin, binary=True, answers=answers, accept_defaults=accept_defaults
    )
    run = RemoteRun(client)
    stderr_reader = asyncio.create_task(_collect(process.stderr, run.stderr))
    try:
        yield run
    finally:
        with contextlib.suppress(OSError, asyncssh.Error):
            process.stdin.write_eof()
        try:
            await asyncio.wait_for(process.wait_closed(), exit_timeout)
        except TimeoutError:
            process.close()
            await process.wait_closed()
        await stderr_reader
        run.exit_status = process.exit_status


async def _collect(stream: Any, lines: list[str]) -> None:
    async for raw in stream:
        if raw:
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))


async def run_remote(
    connection: Any,
    bundle: Bundle,
    arguments: Sequence[str] = (),
    *,
    customization: Callable[[MachineDialogClient], Awaitable[None]] | None = None,
    **kwargs: Any,
) -> RemoteRun:
    """Run ``bundle`` to the end; ``customization`` (if given) drives the customization
    command line before the run is let go with ``install``."""
    async with start_remote(
        connection, bundle, arguments, customize=customization is not None, **kwargs
    ) as run:
        if customization is not None:
            await customization(run.client)
        await run.client.finish()
    return run
