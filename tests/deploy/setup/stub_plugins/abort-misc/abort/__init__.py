"""Aborts the run at the end of MISC, after every file and the domain were staged."""

from __future__ import annotations

from hosted_engine.errors import InstallerAborted
from hosted_engine.installer import Context, Plugin, Priority, Stage, event


class Abort(Plugin):
    @event(stage=Stage.MISC, priority=Priority.LAST, name="test.abort")
    def abort(self) -> None:
        raise InstallerAborted("aborted by the test")


def create_plugins(context: Context) -> None:
    Abort(context)
