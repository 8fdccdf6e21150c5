"""MachineDialogClient driving a real installer process: every query kind, the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hosted_engine.errors import DialogError
from hosted_engine.installer.dialogs.client import (
    ABORT,
    Confirm,
    DisplayMultiString,
    DisplayValue,
    Log,
    MachineDialogClient,
    Note,
    QueryString,
    Terminate,
)

from .helpers import Installer, subprocess_argv

T = TypeVar("T")

ROUNDTRIP = """
from hosted_engine.installer import BOOL, INT, MULTI_STR, STR, Plugin, Stage, event, key

KEYS = {
    "int": key("TEST/int", INT, 0),
    "bool": key("TEST/bool", BOOL, False),
    "str": key("TEST/str", STR),
    "multi": key("TEST/multi", MULTI_STR, ()),
    "secret": key("TEST/secret", STR, secret=True),
}


class RoundTrip(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(*KEYS.values())

    @event(stage=Stage.CUSTOMIZATION)
    def ask(self):
        d = self.dialog
        got = {
            "name": d.query_string("NAME", "Your name:"),
            "storage": d.query_string("STORAGE", valid_values=("nfs", "iscsi"), default="nfs"),
            "password": d.query_string("PASSWORD", "Password:", hidden=True),
            "lines": d.query_multi_string("LINES", "Some lines:"),
            "memory": d.query_value("MEMORY", "Memory:"),
            "flag": d.query_value("FLAG"),
            "nothing": d.query_value("NOTHING"),
            "go": d.confirm("GO", "Proceed with it"),
        }
        for name, value in got.items():
            d.display_value(f"GOT_{name.upper()}", value)

    @event(stage=Stage.VALIDATION)
    def show(self):
        for name, k in KEYS.items():
            self.logger.info("%s=%r", name, self.environment[k])

    @event(stage=Stage.MISC, condition=lambda self: self.environment[KEYS["int"]] == 13)
    def unlucky(self):
        raise RuntimeError("thirteen")


def create_plugins(context):
    RoundTrip(context)
"""

ANSWERS: dict[str, object] = {
    "NAME": "Ada Lovelace",
    "STORAGE": "iscsi",
    "PASSWORD": "pw-123",
    "LINES": ["first", "", "third"],
    "MEMORY": 4096,
    "FLAG": False,
    "NOTHING": None,
    "GO": True,
}


async def drive(
    installer: Installer,
    args: list[str],
    script: Callable[[MachineDialogClient], Awaitable[T]],
    **client_options: Any,
) -> tuple[T, int, str]:
    argv = installer.base_args(["roundtrip"], [installer.plugins])
    process = await asyncio.create_subprocess_exec(
        *subprocess_argv(*argv, "DIALOG/dialect=str:machine", *args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin and process.stdout and process.stderr
    stderr = asyncio.create_task(process.stderr.read())
    client = MachineDialogClient.over_streams(
        process.stdout, process.stdin, binary=True, **client_options
    )
    try:
        result = await asyncio.wait_for(script(client), 30)
    finally:
        process.stdin.close()
        code = await asyncio.wait_for(process.wait(), 30)
    return result, code, (await stderr).decode()


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def roundtrip(installer: Installer) -> Installer:
    installer.group("roundtrip", {"roundtrip": ROUNDTRIP})
    return installer


def test_every_query_kind_round_trips(roundtrip: Installer) -> None:
    async def script(client: MachineDialogClient) -> MachineDialogClient:
        await client.finish()
        return client

    client, code, stderr = run(drive(roundtrip, [], script, answers=ANSWERS))
    assert code == 0, stderr
    shown = {e.name: e.value for e in client.transcript if isinstance(e, DisplayValue)}
    assert shown == {
        "GOT_NAME": "Ada Lovelace",
        "GOT_STORAGE": "iscsi",
        "GOT_PASSWORD": "pw-123",
        "GOT_MEMORY": 4096,
        "GOT_FLAG": False,
        "GOT_NOTHING": None,
        "GOT_GO": True,
    }
    multi = [e for e in client.transcript if isinstance(e, DisplayMultiString)]
    assert multi == [DisplayMultiString("GOT_LINES", ("first", "", "third"))]
    queries = {e.name: e for e in client.transcript if isinstance(e, QueryString)}
    assert queries["STORAGE"] == QueryString(
        "STORAGE", "\nPlease specify 'STORAGE' (nfs, iscsi) [nfs]", "nfs", ("nfs", "iscsi"), False
    )
    assert queries["PASSWORD"].hidden and queries["NAME"].note == "Your name:"
    assert Confirm("GO", "Proceed with it") in client.transcript
    assert Note("Response is CONFIRM GO=yes|no or ABORT GO") in client.transcript
    assert client.logs("INFO")[0] == "Stage: Booting"
    assert isinstance(client.transcript[-1], Terminate)


def test_customization_command_line(roundtrip: Installer) -> None:
    async def script(client: MachineDialogClient) -> dict[str, object]:
        seen: dict[str, object] = {"error": await client.env_get("BASE/error")}
        for name, value in [
            ("TEST/int", 7),
            ("TEST/bool", True),
            ("TEST/str", "with spaces = and :"),
            ("TEST/multi", ("x", "y")),
            ("TEST/str", None),
        ]:
            await client.env_set(name, value)
            seen[name] = await client.env_get(name)
        await client.command("env-set -k TEST/int -v 8")
        seen["env-set"] = await client.env_get("TEST/int")
        await client.command("env-set -k TEST/secret -v hush")
        seen["secret"] = await client.env_get("TEST/secret")
        await client.env_set("TEST/secret", "hush-2")
        seen["show"] = [e.text for e in await client.command("env-show") if isinstance(e, Note)]
        seen["help"] = [e.text for e in await client.command("help") if isinstance(e, Note)]
        seen["bad"] = [e.text for e in await client.command("frobnicate") if isinstance(e, Log)]
        seen["badset"] = [
            e.text for e in await client.command("env-set -k TEST/int -v x") if isinstance(e, Log)
        ]
        seen["noop"] = await client.command("noop")
        seen["log"] = await client.download_log()
        await client.command("install")  # runs on to the termination prompt
        seen["final"] = await client.env_get("BASE/error")
        await client.finish()
        return seen

    seen, code, stderr = run(
        drive(roundtrip, ["DIALOG/customization=bool:True"], script, answers=ANSWERS)
    )
    assert code == 0, stderr
    assert seen["error"] is False and seen["final"] is False
    assert seen["TEST/int"] == 7 and seen["TEST/bool"] is True
    assert seen["TEST/str"] is None and seen["TEST/multi"] == ("x", "y")
    assert seen["env-set"] == 8
    assert seen["secret"] == "**FILTERED**"
    assert "TEST/secret=str:**FILTERED**" in "\n".join(seen["show"])  # type: ignore[arg-type]
    assert "env-query-multi - Query multi-string environment variable (-k KEY)" in "\n".join(
        seen["help"]  # type: ignore[arg-type]
    )
    assert seen["bad"] == ["Invalid command 'frobnicate'"]
    assert seen["badset"] == [
        "env-set: bad int value 'x': expected a whole number in ASCII digits, e.g. 5 or -3"
    ]
    assert len(seen["noop"]) == 0  # type: ignore[arg-type]
    log = "\n".join(seen["log"])  # type: ignore[arg-type]
    assert "STAGE customization" in log and "hush" not in log
    assert "command: env-set -k TEST/secret -v **FILTERED**" in log


def test_customization_abort_and_exception_show(roundtrip: Installer) -> None:
    async def script(client: MachineDialogClient) -> list[str]:
        await client.env_set("TEST/int", 13)  # makes the MISC event fail
        await client.command("install")
        notes = [e.text for e in await client.command("exception-show") if isinstance(e, Note)]
        await client.finish()
        return notes

    notes, code, _ = run(
        drive(roundtrip, ["DIALOG/customization=bool:True"], script, answers=ANSWERS)
    )
    assert code == 1
    assert "RuntimeError: thirteen" in "\n".join(notes)

    async def abort(client: MachineDialogClient) -> list[str]:
        await client.command("abort")
        await client.finish()
        return client.logs()

    logs, code, _ = run(
        drive(roundtrip, ["DIALOG/customization=bool:True"], abort, answers=ANSWERS)
    )
    assert code == 1
    assert "Aborted: aborted by the manager" in logs


@pytest.mark.parametrize("query", ["LINES", "MEMORY", "GO"])
def test_a_query_can_be_aborted(roundtrip: Installer, query: str) -> None:
    async def script(client: MachineDialogClient) -> list[str]:
        await client.finish()
        return client.logs("WARNING")

    answers = {**ANSWERS, query: ABORT}
    warnings, code, _ = run(drive(roundtrip, [], script, answers=answers))
    assert code == 1
    assert warnings[0] == f"Aborted: aborted by the manager at {query}"


def test_an_unanswered_query_stops_the_client_and_the_run_fails(roundtrip: Installer) -> None:
    async def script(client: MachineDialogClient) -> None:
        with pytest.raises(DialogError, match="no answer for QueryString NAME"):
            await client.finish()

    _, code, stderr = run(drive(roundtrip, [], script))
    assert code == 1
    assert "end of input while waiting for NAME" in stderr


def test_stray_output_cannot_corrupt_the_protocol(installer: Installer, tmp_path: Path) -> None:
    installer.group(
        "roundtrip",
        {
            "noisy": """
            import os, subprocess
            from hosted_engine.installer import Plugin, Stage, event

            class Noisy(Plugin):
                @event(stage=Stage.SETUP)
                def shout(self):
                    print("stray print")
                    os.write(1, b"stray write\\n")
                    subprocess.run(["echo", "stray child"])

            def create_plugins(context):
                Noisy(context)
            """
        },
    )

    async def script(client: MachineDialogClient) -> None:
        await client.finish()

    _, code, stderr = run(drive(installer, [], script))
    assert code == 0
    assert "stray print" in stderr and "stray write" in stderr and "stray child" in stderr
