"""Blocks at the end of MISC (everything staged) until the run is interrupted; it says
where it is by creating the file named by $DEPLOY_TEST_BLOCKED."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hosted_engine.installer import Context, Plugin, Priority, Stage, event


class Block(Plugin):
    @event(stage=Stage.MISC, priority=Priority.LAST, name="test.block")
    def block(self) -> None:
        Path(os.environ["DEPLOY_TEST_BLOCKED"]).touch()
        threading.Event().wait(60)  # a signal's handler interrupts this wait


def create_plugins(context: Context) -> None:
    Block(context)
