"""Reports how far this host's clock is from the manager's.

ovirt-host-deploy set the host's clock; a deploy that silently jumps the clock of a host
running VMs is worse than a warning, so here the skew is reported and the admin fixes
NTP. Certificates issued "in the future" and stale-host judgements both suffer from skew.
"""

from __future__ import annotations

import datetime
import time

from hosted_engine.deploy import keys
from hosted_engine.installer import Context, Plugin, Stage, event


def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, keys.MANAGER_TIME, keys.MAX_CLOCK_SKEW)

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.clock.skew",
        condition=lambda self: (
            self.environment[keys.ACTION] == "deploy"
            and self.environment[keys.MANAGER_TIME] is not None
        ),
    )
    def skew(self) -> None:
        manager = self.environment[keys.MANAGER_TIME]
        assert manager is not None
        here = time.time()
        skew = here - manager
        limit = self.environment[keys.MAX_CLOCK_SKEW]
        line = (
            f"Clock: this host {_utc(here)}, manager {_utc(manager)}: "
            f"this host is {abs(skew):.0f} s {'ahead' if skew >= 0 else 'behind'}"
        )
        if abs(skew) > limit:
            self.logger.warning(
                "%s, more than %s=%d s: synchronise both with NTP (chronyc tracking)",
                line,
                keys.MAX_CLOCK_SKEW.name,
                limit,
            )
        else:
            self.dialog.note(line)


def create_plugins(context: Context) -> None:
    Clock(context)
