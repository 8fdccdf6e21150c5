"""``hosted-engine``: the admin's command line, on the public client API only.

Verbs and messages follow the reference so scripts keep working; unlike the reference,
every misuse gets one line on stderr and a non-zero exit, never a traceback, and
``--json`` output is valid JSON even for errors (D9).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from hosted_engine.cli import shared_config, vm_definition
from hosted_engine.cli.history import render_history
from hosted_engine.cli.vm_status import (
    render_explain,
    render_explain_json,
    render_json,
    render_text,
)
from hosted_engine.client import ClusterStatus, HAClient
from hosted_engine.client.switchover import parse_when
from hosted_engine.errors import HostedEngineError, NotDeployedError

VERBS = (
    "vm-status",
    "set-maintenance",
    "vm-start",
    "vm-shutdown",
    "vm-poweroff",
    "check-deployed",
    "check-liveliness",
    "clean-metadata",
    "reinitialize-lockspace",
    "get-all-config",
    "show-vm-definition",
    "history",
    "switchover",
)
# Verbs that take their own arguments: (argparse nargs, metavar).
VERBS_WITH_ARGS = {
    "set-shared-config": ("*", "KEY VALUE"),
    "get-shared-config": ("*", "KEY"),
    "download-shared-config": ("?", "FILE"),
    "upload-shared-config": ("?", "FILE"),
    "download-vm-ovf": ("?", "FILE"),
    "upload-vm-ovf": ("?", "FILE"),
    "convert-vm-conf": ("?", "FILE"),
}


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(message)


class _VerbWithArgs(argparse.Action):
    """``--set-shared-config KEY VALUE``: the verb, and its arguments in ``verb_args``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        namespace.verb = self.dest
        if values is None:
            namespace.verb_args = []
        else:
            namespace.verb_args = [values] if isinstance(values, str) else list(values)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hosted-engine",
        description="Manage the hosted engine: status, maintenance, the engine VM, recovery.",
        allow_abbrev=False,
    )
    verbs = p.add_mutually_exclusive_group()
    for verb in VERBS:
        verbs.add_argument(f"--{verb}", dest="verb", action="store_const", const=verb)
    for verb, (nargs, metavar) in VERBS_WITH_ARGS.items():
        verbs.add_argument(
            f"--{verb}", dest=verb, nargs=nargs, metavar=metavar, action=_VerbWithArgs
        )
    p.set_defaults(verb=None, verb_args=[])
    p.add_argument("--config", help="hosted-engine.conf (default: $HOSTED_ENGINE_CONFIG)")
    p.add_argument(
        "--json",
        action="store_true",
        help="--vm-status, --show-vm-definition, --history: machine-readable output",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="--vm-status: each host's score, its base and every penalty by name",
    )
    p.add_argument("--mode", help="--set-maintenance: global, local or none")
    p.add_argument(
        "--force",
        action="store_true",
        help="--reinitialize-lockspace: skip checks; --set-shared-config, --upload-vm-ovf: "
        "change the engine VM without asking; --convert-vm-conf: replace an existing OVF",
    )
    p.add_argument("--type", dest="config_type", help="shared config verbs: the key's type")
    p.add_argument("--force-cleanup", action="store_true", help="--clean-metadata: unclean slot")
    p.add_argument("--host-id", type=int, help="--clean-metadata: the host to forget")
    p.add_argument("--to-host", type=int, help="--switchover: the host to move the engine to")
    p.add_argument("--scheduled-at", help="--switchover: when (ISO 8601, e.g. 2026-12-24T02:00Z)")
    p.add_argument("--note", default="", help="--switchover: why, for the history")
    p.add_argument("--cancel", action="store_true", help="--switchover: cancel the pending one")
    p.add_argument(
        "--move-engine",
        action="store_true",
        help="--set-maintenance --mode=local: move the engine to another host first",
    )
    return p


def _client(args: argparse.Namespace) -> HAClient:
    return HAClient.from_config(args.config)


def vm_status(args: argparse.Namespace) -> int:
    status = _client(args).get_status()
    for warning in status.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.explain:
        return _explain(status, args.json)
    if args.json:
        print(render_json(status))
        return 0
    if not status.hosts:
        # the reference prints its (empty) report, the banner included, and exits 1
        sys.stdout.write(render_text(status))
        raise CliError("No host has published its status on the storage domain yet.")
    if status.source == "storage":
        print(
            "note: the local broker is not running; status read from storage, liveness unknown",
            file=sys.stderr,
        )
    sys.stdout.write(render_text(status))
    return 0


def _explain(status: ClusterStatus, as_json: bool) -> int:
    """``--vm-status --explain``: every host's score term by term (a format of ours, so the
    default ``--json`` stays exactly the reference's)."""
    if as_json:
        print(render_explain_json(status))
        return 0
    if not status.hosts:
        raise CliError("No host has published its status on the storage domain yet.")
    sys.stdout.write(render_explain(status))
    return 0


def set_maintenance(args: argparse.Namespace) -> int:
    if not args.mode:
        raise CliError("You must specify a maintenance mode with --mode")
    if args.mode not in ("global", "local", "none"):
        raise CliError(f"Invalid value '{args.mode}' for --mode")
    client = _client(args)
    if args.move_engine:
        if args.mode != "local":
            raise CliError("--move-engine goes with --mode=local")
        _move_engine_away(client)
    client.set_maintenance(args.mode)
    return 0


def _move_engine_away(client: HAClient) -> None:
    request = client.move_engine_away()
    if request is not None:
        print(f"Moving the engine away first: {request.describe()}...", flush=True)
        client.wait_switchover(request)


def _with_client(
    handler: Callable[[HAClient, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    return lambda args: handler(_client(args), args)


def _say(message: str) -> int:
    print(message)
    return 0


def history(args: argparse.Namespace) -> int:
    """``--history [--json]``: patronictl's ``history``, for the engine VM."""
    entries = _client(args).history()
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return 0
    if not entries:
        return _say("No start or stop of the engine VM has been recorded yet.")
    print(render_history(entries))
    return 0


def switchover(args: argparse.Namespace) -> int:
    """``--switchover``: stored, then followed until the engine is healthy on the target
    (a scheduled one returns at once); every refusal is one line and exit 1."""
    client = _client(args)
    if args.cancel:
        return _say(client.cancel_switchover())
    when = None if args.scheduled_at is None else _epoch(args.scheduled_at)
    request = client.switchover(args.to_host, args.note, when)
    if when is not None:
        return _say(f"Scheduled the {request.describe()} at {args.scheduled_at}")
    print(f"Requested the {request.describe()}; waiting for it...", flush=True)
    took = client.wait_switchover(request)
    return _say(f"Switchover done: the engine is healthy on host {request.to_host} ({took:.1f} s)")


def _epoch(text: str) -> float:
    try:
        return parse_when(text)  # without a zone: local time, as the admin typed it
    except ValueError:
        raise CliError(f"--scheduled-at must be an ISO 8601 time (got {text[:40]!r})") from None


def check_deployed(args: argparse.Namespace) -> int:
    try:
        deployed = _client(args).is_deployed()
    except NotDeployedError:
        deployed = False
    if deployed:
        return _say("The hosted engine has been deployed")
    raise CliError("The hosted engine has not been deployed")


def check_liveliness(args: argparse.Namespace) -> int:
    try:
        client = _client(args)
    except HostedEngineError:
        raise CliError("Error reading the configuration file", code=2) from None
    try:
        up = client.check_liveliness()
    except NotDeployedError as e:
        raise CliError(str(e), code=2) from None
    if up:
        return _say("Hosted Engine is up!")
    raise CliError("Hosted Engine is not up!")


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "vm-status": vm_status,
    "set-maintenance": set_maintenance,
    "vm-start": lambda a: _say(_client(a).vm_start()),
    "vm-shutdown": lambda a: _say(_client(a).vm_shutdown()),
    "vm-poweroff": lambda a: _say(_client(a).vm_poweroff()),
    "check-deployed": check_deployed,
    "history": history,
    "switchover": switchover,
    "check-liveliness": check_liveliness,
    "clean-metadata": lambda a: _say(_client(a).clean_metadata(a.host_id, a.force_cleanup)),
    "reinitialize-lockspace": lambda a: _say(_client(a).reinitialize_lockspace(a.force)),
    **{verb: _with_client(handler) for verb, handler in shared_config.HANDLERS.items()},
    **{verb: _with_client(handler) for verb, handler in vm_definition.HANDLERS.items()},
}


def _shown(message: str) -> str:
    """``message`` as text any stream can take and no terminal misreads.

    Argv bytes that are not UTF-8 reach us as lone surrogates (surrogateescape), which a
    UTF-8 stream refuses to encode: they are shown as the bytes they were (``\\xff``).
    Other characters that are not printable (a line separator, an ESC that would repaint
    the terminal) are shown escaped (``\\u2028``), so an echoed argument can neither
    break the message's line nor hide it; only the message's own newlines stay.
    """
    try:
        raw = message.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = message.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or ch == "\n" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _fail(message: str, code: int, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": _shown(message)}))
    else:
        print(_shown(message), file=sys.stderr)
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor behind stdout
        pass


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe must fail here, where it is handled
    except BrokenPipeError:
        # the reader went away (`| head`): nobody to tell, and nothing more to write
        _silence_stdout()
        return 1
    return code


def _run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--deploy"]:  # its own flags, run by the installer framework
        from hosted_engine.cli import deploy

        return deploy.main(argv[1:])
    as_json = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.verb is None:
            raise CliError(
                "You must specify one of: "
                + ", ".join(f"--{v}" for v in (*VERBS, *VERBS_WITH_ARGS))
                + " (see --help)"
            )
        return HANDLERS[args.verb](args)
    except CliError as e:
        return _fail(str(e), e.code, as_json)
    except HostedEngineError as e:
        return _fail(str(e), 1, as_json)
    except KeyboardInterrupt:
        return _fail("interrupted", 130, as_json)


if __name__ == "__main__":
    sys.exit(main())
