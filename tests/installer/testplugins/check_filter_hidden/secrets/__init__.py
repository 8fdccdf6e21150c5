"""Handles secrets every way a plugin might: a secret key, a hidden answer, log lines, errors."""

from hosted_engine.installer import STR, Plugin, Stage, event, key

PASSWORD = key("TEST/password", STR, secret=True, answer=True)
USER = key("TEST/user", STR, "admin", answer=True)


class Secrets(Plugin):
    def __init__(self, context):
        super().__init__(context)
        self.declare(PASSWORD, USER)

    @event(stage=Stage.CUSTOMIZATION)
    def ask(self) -> None:
        if self.environment[PASSWORD] is None:
            self.environment[PASSWORD] = self.dialog.query_string(
                "TEST_PASSWORD", "Password:", hidden=True
            )
        token = self.dialog.query_string("TEST_TOKEN", "Token:", hidden=True)
        self.logger.info("password is %s", self.environment[PASSWORD])
        self.logger.debug("token was %s", token)

    @event(stage=Stage.MISC)
    def fail_with_secret(self) -> None:
        raise RuntimeError(f"could not log in with {self.environment[PASSWORD]}")


def create_plugins(context):
    Secrets(context)
