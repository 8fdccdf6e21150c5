"""Declares an int key, then tries to store a str in it (the reference allowed the drift)."""

from hosted_engine.installer import INT, Plugin, Stage, event, key

VALUE = key("TEST/value", INT, 1)


class Change(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(VALUE)

    @event(stage=Stage.SETUP)
    def set_int(self) -> None:
        self.environment[VALUE] = 2

    @event(stage=Stage.MISC)
    def set_str(self) -> None:
        self.environment.set(VALUE.name, "three")


def create_plugins(context):
    Change(context)
