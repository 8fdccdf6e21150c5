"""``hosted-engine-installer [KEY=type:value ...]``: what only a process can add to a run.

Each argument is one assignment (no re-joining into one shell string, as the reference did).
Signals become an orderly abort with rollback. With the machine dialect, file descriptor 1
is kept for the dialog and stray output (a ``print``, a child's output) goes to stderr,
so it can never corrupt the protocol.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from hosted_engine.errors import InstallerUsageError

from .context import Context
from .runner import EXIT_ERROR
from .values import Assignment

PROG = "hosted-engine-installer"
USAGE = f"""usage: {PROG} [[APPEND:|PREPEND:]KEY=type:value ...]

Types: none, bool, int, str, multi-str. Common keys:
  BASE/pluginPath=str:DIR[:DIR]     where plugin groups live
  BASE/pluginGroups=str:G[:G]       which groups to load
  DIALOG/dialect=str:machine        talk the machine dialog protocol
  DIALOG/customization=bool:True    offer the customization command line
  CORE/configFileAppend=str:FILE    read an extra configuration or answer file
  DIALOG/answerFile=str:FILE        write an answer file at the end
  SYSTEM/root=str:DIR               prefix for every system path
Exit codes: 0 success, 1 error, 2 plugins could not be loaded."""

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    try:
        assignments = [Assignment.parse(a) for a in args]
    except InstallerUsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_ERROR
    machine = any(a.key == "DIALOG/dialect" and a.value == "machine" for a in assignments)
    with _dialog_stdout(stdout, protect=machine) as out:
        context = Context(assignments, stdin=stdin or _dialog_stdin(), stdout=out)
        try:
            with signals_abort(context):
                result = context.run()
        finally:
            context.close()
    if result.error and result.message:
        print(f"{PROG}: {result.message}", file=sys.stderr)
    return result.exit_code


def _dialog_stdin() -> TextIO:
    """stdin read as UTF-8 with ``surrogateescape``: a line of bad bytes then reaches the
    dialog, which refuses that line alone, instead of a decoding error ending the session."""
    stream = sys.stdin
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(encoding="utf-8", errors="surrogateescape")
        except (ValueError, OSError):  # text already read: the encoding is fixed by now
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="surrogateescape")
    return stream


@contextmanager
def _dialog_stdout(given: TextIO | None, *, protect: bool) -> Iterator[TextIO]:
    """The stream for the dialog; for a machine dialog on the real fd 1, a private copy."""
    if given is not None or not protect:
        yield given or sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    dialog = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    try:
        yield dialog
    finally:
        with contextlib.suppress(OSError):  # the other side is gone; nothing more to tell it
            dialog.close()
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def signals_abort(context: Context) -> Iterator[None]:
    """SIGINT, SIGTERM, SIGHUP and SIGQUIT abort the current event and roll back (main
    thread only: elsewhere Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        context.interrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
