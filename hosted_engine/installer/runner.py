"""The run loop: stages in order, events in sequence, failures recorded, changes rolled back.

A failing event marks the run failed and aborts the main transaction at once; the stages
that only run on success are then skipped, while CLEANUP, PRE_TERMINATE and TERMINATE still
run so the run can report and tidy up. Instead of re-raising the first exception at the end
(as the reference did), the outcome is returned as a :class:`RunResult`.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hosted_engine.errors import (
    DialogError,
    InstallerAborted,
    InstallerError,
    InstallerInterrupted,
)

from . import keys
from .events import BoundEvent
from .logs import scrub
from .stages import Stage

if TYPE_CHECKING:
    from .context import Context

EXIT_ERROR = 1
EXIT_LOAD_FAILURE = 2


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    error: bool
    aborted: bool = False
    message: str | None = None  # the first failure, on one line
    log_path: str | None = None


class Runner:
    def __init__(self, context: Context) -> None:
        self._ctx = context
        self._env = context.environment
        self._logger = context.logger
        self._first_error: BaseException | None = None
        self._interrupt_reported = False

    def run(self) -> RunResult:
        ctx = self._ctx
        by_stage: dict[Stage, list[BoundEvent]] = defaultdict(list)
        for item in ctx.sequence:
            by_stage[item.stage].append(item)
        self._quiet_dialog(
            lambda: ctx.dialog.dialect.events_planned([e.describe() for e in ctx.sequence])
        )
        self._env.take_changes()  # start-up values are in the BOOT environment dump
        for stage in Stage:
            if not by_stage[stage] or (stage.if_success and self._env[keys.ERROR]):
                continue
            self._logger.info("Stage: %s", stage.description)
            self._logger.debug("STAGE %s", stage.id)
            for item in by_stage[stage]:
                if stage.if_success and self._env[keys.ERROR]:
                    break
                self._run_event(item)
        if ctx.interrupted and not self._interrupt_reported:  # arrived when it could not stop us
            self._env[keys.ERROR] = self._env[keys.ABORTED] = True
            self._first_error = self._first_error or InstallerInterrupted(
                f"interrupted by {ctx.interrupted}"
            )
        return self._result()

    def _run_event(self, item: BoundEvent) -> None:
        ctx = self._ctx
        self._logger.debug("METHOD %s (%s)", item.qualname, item.name)
        if ctx.interrupted and item.stage.if_success and not self._interrupt_reported:
            self._fail(item, InstallerInterrupted(f"interrupted by {ctx.interrupted}"))
            return
        description = item.describe()
        try:
            ctx.dialog.dialect.event_started(description)
            ctx.interruptible = item.stage.if_success
            try:
                condition = item.spec.condition
                if condition is not None and not condition(item.owner):
                    self._logger.debug("condition False")
                else:
                    item.method()
            finally:
                ctx.interruptible = False
        except (Exception, KeyboardInterrupt, SystemExit) as e:
            if isinstance(e, KeyboardInterrupt):
                e = InstallerInterrupted("interrupted by SIGINT")
            elif isinstance(e, SystemExit):  # would end the process, skipping CLEANUP/TERMINATE
                e = InstallerError(
                    f"{item.qualname} ({item.name}) called sys.exit({e.code!r}) in stage "
                    f"{item.stage.id}"
                )
            self._fail(item, e)
        self._quiet_dialog(lambda: ctx.dialog.dialect.event_ended(description))
        for name in self._env.take_changes():
            self._logger.debug("ENV %s=%s", name, self._env.display(name))

    def _fail(self, item: BoundEvent, error: BaseException) -> None:
        self._env[keys.ERROR] = True
        self._ctx.exceptions.append(error)
        self._first_error = self._first_error or error
        self._interrupt_reported |= isinstance(error, InstallerInterrupted)
        self._logger.debug("exception in %s", item.qualname, exc_info=error)
        if isinstance(error, InstallerAborted):
            self._env[keys.ABORTED] = True
            self._logger.warning("Aborted: %s", error)
        else:
            self._logger.error("Failed to execute stage '%s': %s", item.stage.description, error)
        self._ctx.transaction.abort()

    def _quiet_dialog(self, action: Callable[[], None]) -> None:
        """Dialog output whose loss is not itself a failure (the first loss already failed)."""
        with contextlib.suppress(DialogError):
            action()

    def _result(self) -> RunResult:
        error = self._env[keys.ERROR]
        code = self._env[keys.EXIT_CODE]
        if not 0 <= code <= keys.EXIT_MAX:
            code = EXIT_ERROR  # the environment refuses such codes; never let one through
        if error:
            code = max(code, EXIT_ERROR)
        message = None
        if self._first_error is not None:
            text = " ".join(str(self._first_error).split()) or type(self._first_error).__name__
            message = scrub(text, self._env.secret_values)
        self._logger.debug("exit code %d", code)
        return RunResult(code, error, self._env[keys.ABORTED], message, self._ctx.run_log.path)
