"""Running programs, with their output in the run log rather than on the dialog channel."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hosted_engine.errors import CommandError


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    rc: int
    stdout: tuple[str, ...]
    stderr: tuple[str, ...]


class Executor:
    """Runs a program to completion; stdin is never the dialog's (it gets ``input`` or nothing)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def __call__(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        log_streams: bool = True,
    ) -> Completed:
        argv = tuple(args)
        self._logger.debug("execute: %s", argv)
        environment = {**os.environ, **env} if env is not None else None
        try:
            process = subprocess.run(
                argv,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=environment,
                cwd=cwd,
                check=False,
            )
        except OSError as e:
            raise CommandError(f"Command '{argv[0]}' failed to execute: {e}") from None
        result = Completed(
            argv,
            process.returncode,
            tuple(process.stdout.splitlines()),
            tuple(process.stderr.splitlines()),
        )
        self._logger.debug("execute-result: %s, rc=%s", argv, result.rc)
        if log_streams:
            for name, lines in (("stdout", result.stdout), ("stderr", result.stderr)):
                if lines:
                    self._logger.debug("execute-output: %s %s:\n%s", argv, name, "\n".join(lines))
        if check and result.rc != 0:
            raise CommandError(f"Command '{argv[0]}' failed to execute (rc={result.rc})")
        return result
