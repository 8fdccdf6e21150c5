"""Notification questions: where the brokers send state-transition mail (broker.conf)."""

from __future__ import annotations

from hosted_engine.deploy import setup_ask
from hosted_engine.deploy import setup_keys as K
from hosted_engine.installer import Context, Plugin, Stage, event


def _address(value: str) -> str | None:
    return None if "@" in value and " " not in value else "want an e-mail address"


def _addresses(value: str) -> str | None:
    problems = [_address(v.strip()) for v in value.split(",")]
    return next((p for p in problems if p), None)


class Notifications(Plugin):
    @event(
        stage=Stage.CUSTOMIZATION,
        name="hosted-engine-setup.notif.ask",
        after=("hosted-engine-setup.engine.ask",),
        condition=lambda self: not self.environment[K.DEPLOYED],
    )
    def ask(self) -> None:
        setup_ask.ask(self, K.SMTP_SERVER, "SMTP server for notifications:")
        setup_ask.ask(self, K.SMTP_PORT, "SMTP server port:")
        setup_ask.ask(self, K.SOURCE_EMAIL, "Sender e-mail address:", check=_address)
        setup_ask.ask(self, K.DEST_EMAIL, "Comma-separated recipient addresses:", check=_addresses)


def create_plugins(context: Context) -> None:
    Notifications(context)
