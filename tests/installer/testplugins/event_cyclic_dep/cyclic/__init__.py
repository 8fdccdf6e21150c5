"""Three events that each must run after the next one: a cycle."""

from hosted_engine.installer import Plugin, Stage, event


class Cyclic(Plugin):
    @event(stage=Stage.MISC, name="test.cyclic.a", after=("test.cyclic.c",))
    def a(self) -> None:
        pass

    @event(stage=Stage.MISC, name="test.cyclic.b", after=("test.cyclic.a",))
    def b(self) -> None:
        pass

    @event(stage=Stage.MISC, name="test.cyclic.c", after=("test.cyclic.b",))
    def c(self) -> None:
        pass


def create_plugins(context):
    Cyclic(context)
