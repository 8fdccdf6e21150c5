"""Names its dependency with a bare string where a tuple was meant (missing comma)."""

from hosted_engine.installer import Plugin, Stage, event


class Bad(Plugin):
    @event(stage=Stage.MISC, after=("test.bad.other"))
    def method(self) -> None:
        pass


def create_plugins(context):
    Bad(context)
