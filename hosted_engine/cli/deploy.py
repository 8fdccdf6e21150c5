"""``hosted-engine --deploy``: the setup and host-deploy plugin groups, run in this process.

oVirt's flags: ``--config-append=ANSWERS`` (repeatable) loads answer files,
``--generate-answer=FILE`` writes one on success; ours: ``--root DIR`` puts every file
of the host under DIR (tests, the lab), ``--machine`` speaks the machine dialog, and
``--otopi-environment=KEY=type:value`` (or a bare ``KEY=type:value``) passes any
environment assignment through. A failure or Ctrl-C rolls the files back (the
framework's transaction) and ends with one line naming the step that failed, why, and
the log; the exit code is 0 only on success.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from hosted_engine.deploy import HOST_DEPLOY_GROUP, PLUGIN_DIR, SETUP_GROUP
from hosted_engine.errors import InstallerUsageError
from hosted_engine.installer import Assignment, Context
from hosted_engine.installer.cli import signals_abort

PROG = "hosted-engine --deploy"
LOG_DIR = "/var/log/hosted-engine-setup"
USAGE = f"""usage: {PROG} [--config-append=ANSWERS ...] [--generate-answer=FILE] [--root DIR]
       [--machine] [--otopi-environment=KEY=type:value ...] [KEY=type:value ...]
Exit codes: 0 deployed (or already deployed), 1 failed or interrupted, 2 cannot start."""


class _StepWatcher(logging.Handler):
    """Remembers the event that was running when the run first failed, from the run
    log's own records, so the final line can name the step."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.current: str | None = None
        self.failed: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("METHOD "):
            method = text.removeprefix("METHOD ")  # "module.Class.method (event name)"
            self.current = method.rpartition(" (")[2].rstrip(")") or method
        elif self.failed is None and text.startswith(("Failed to execute stage", "Aborted:")):
            self.failed = self.current


def parse(argv: Sequence[str]) -> list[Assignment]:
    """The run's assignments; a bad flag is an InstallerUsageError of one line."""
    out = [
        Assignment.parse(f"BASE/pluginGroups=str:{SETUP_GROUP}:{HOST_DEPLOY_GROUP}"),
        Assignment.parse(f"BASE/pluginPath=str:{PLUGIN_DIR}"),
        Assignment.parse("CORE/logFileNamePrefix=str:hosted-engine-setup"),
    ]
    rest: list[Assignment] = []
    root = "/"
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("--config-append", "--generate-answer", "--root", "--otopi-environment"):
            if not eq:
                if not args:
                    raise InstallerUsageError(f"{name} needs a value")
                value = args.pop(0)
            if not value:
                raise InstallerUsageError(f"{name} needs a value")
            if name == "--config-append":
                if not os.path.isfile(value):
                    raise InstallerUsageError(f"--config-append: {value}: no such file")
                path = os.path.abspath(value)
                rest.append(Assignment("CORE/configFileAppend", path, "append", "--config-append"))
            elif name == "--generate-answer":
                path = os.path.abspath(value)
                rest.append(Assignment("OVEHOSTED_CORE/generateAnswer", path, "set", name))
            elif name == "--root":
                if not os.path.isdir(value):
                    raise InstallerUsageError(f"--root: {value} is not a directory")
                root = os.path.abspath(value)
                rest.append(Assignment("SYSTEM/root", root, "set", name))
            else:
                rest.append(Assignment.parse(value, name))
        elif arg == "--machine":
            rest.append(Assignment("DIALOG/dialect", "machine", "set", arg))
        elif arg.startswith("-"):
            raise InstallerUsageError(f"unknown option {arg} (see --help)")
        else:
            rest.append(Assignment.parse(arg))
    log_dir = os.path.join(root, LOG_DIR.lstrip("/"))
    out.append(Assignment("CORE/logDir", log_dir, "set", "--root"))
    return out + rest


def main(argv: Sequence[str], *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    try:
        assignments = parse(argv)
    except InstallerUsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    machine = any(a.key == "DIALOG/dialect" and a.value == "machine" for a in assignments)
    out = stdout or sys.stdout
    saved_fd: int | None = None
    if machine and stdout is None:  # fd 1 is the protocol's: stray output goes to stderr
        sys.stdout.flush()
        saved_fd = os.dup(1)
        os.dup2(2, 1)
        out = os.fdopen(os.dup(saved_fd), "w", encoding="utf-8")
    watcher = _StepWatcher()
    context = Context(assignments, stdin=stdin or sys.stdin, stdout=out)
    context.logger.addHandler(watcher)
    try:
        with signals_abort(context):
            result = context.run()
    finally:
        context.logger.removeHandler(watcher)
        context.close()
        if saved_fd is not None:
            out.close()
            sys.stdout.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)
    if result.error:
        step = f" at {watcher.failed}" if watcher.failed else ""
        verb = "aborted" if result.aborted else "failed"
        where = f"; log: {result.log_path}" if result.log_path else ""
        print(f"{PROG}: {verb}{step}: {result.message}{where}", file=sys.stderr)
    return result.exit_code
