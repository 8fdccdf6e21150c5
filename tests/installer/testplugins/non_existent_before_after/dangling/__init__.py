"""Orders itself against events nobody defines."""

from hosted_engine.installer import Plugin, Stage, event


class Dangling(Plugin):
    @event(
        stage=Stage.MISC,
        name="test.dangling.method",
        before=("test.nonexistent.before",),
        after=("test.nonexistent.after",),
    )
    def method(self) -> None:
        self.logger.info("dangling event ran")


def create_plugins(context):
    Dangling(context)
