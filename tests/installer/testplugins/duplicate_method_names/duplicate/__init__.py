"""Defines the same event method twice; the first would silently never run."""

from hosted_engine.installer import Plugin, Stage, event


class Duplicate(Plugin):
    @event(stage=Stage.SETUP)
    def _setup(self) -> None:
        pass

    @event(stage=Stage.MISC)
    def _setup(self) -> None:
        pass


def create_plugins(context):
    Duplicate(context)
