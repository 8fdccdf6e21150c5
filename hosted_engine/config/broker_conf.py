"""broker.conf: the notification settings every broker reads (reference 4.3).

Its reader lives here, below the broker, because the shared-configuration verbs check a
broker.conf the way the broker will read it before they store one.
"""

from __future__ import annotations

import configparser
import math
import re
from dataclasses import dataclass

from hosted_engine.config.ini import one_line
from hosted_engine.errors import ConfigError

STATE_TRANSITION = "state_transition"
DEFAULT_STATE_TRANSITION_RULE = "maintenance|start|stop|up|down"
_PORT = re.compile(r"[0-9]{1,5}")
_SECONDS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True)
class BrokerConf:
    smtp_server: str = "localhost"
    smtp_port: int = 25
    smtp_timeout: float = 10.0
    source_email: str = "root@localhost"
    destination_emails: tuple[str, ...] = ("root@localhost",)
    state_transition: str = DEFAULT_STATE_TRANSITION_RULE  # empty: never send

    def wants(self, detail: str) -> bool:
        """Whether a transition like ``EngineDown-EngineStart`` deserves a mail."""
        return bool(self.state_transition) and (
            re.search(self.state_transition, detail, re.IGNORECASE) is not None
        )

    def template_fields(self) -> dict[str, str]:
        """The ``[email]`` keys under their file names, as the template refers to them."""
        return {
            "smtp-server": self.smtp_server,
            "smtp-port": str(self.smtp_port),
            "smtp-timeout": f"{self.smtp_timeout:g}",
            "source-email": self.source_email,
            "destination-emails": ", ".join(self.destination_emails),
        }


def parse_broker_conf(text: str) -> BrokerConf:
    """Raises ValueError (or configparser.Error) naming the bad setting."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    defaults = BrokerConf()

    def get(section: str, key: str, default: str) -> str:
        return parser.get(section, key, fallback=default).strip()

    port_text = get("email", "smtp-port", str(defaults.smtp_port))
    timeout_text = get("email", "smtp-timeout", str(defaults.smtp_timeout))
    # plain ASCII numbers: int() and float() would also take '٢٥', '2_5', ' 25' or 'inf'
    if not (_PORT.fullmatch(port_text) and _SECONDS.fullmatch(timeout_text)):
        raise ValueError(
            f"smtp-port must be a whole number and smtp-timeout a number "
            f"(got {port_text!r}, {timeout_text!r})"
        )
    port, timeout = int(port_text), float(timeout_text)
    if not 0 < port < 65536 or not (math.isfinite(timeout) and 0.01 <= timeout <= 86400):
        # an infinite (or 1e10 s) timeout would let a dead relay hold the mail worker
        raise ValueError(
            f"smtp-port {port} or smtp-timeout {timeout:g} out of range "
            "(smtp-port 1..65535, smtp-timeout 0.01..86400 seconds)"
        )
    destinations_text = get("email", "destination-emails", ",".join(defaults.destination_emails))
    destinations = tuple(a for a in re.split(r"\s*,\s*", destinations_text) if a)
    if not destinations:
        raise ValueError("destination-emails is empty")
    rule = get("notify", STATE_TRANSITION, DEFAULT_STATE_TRANSITION_RULE)
    try:
        re.compile(rule)
    except re.error as e:
        raise ValueError(f"[notify] {STATE_TRANSITION} is not a valid regex: {e}") from None
    return BrokerConf(
        smtp_server=get("email", "smtp-server", defaults.smtp_server),
        smtp_port=port,
        smtp_timeout=timeout,
        source_email=get("email", "source-email", defaults.source_email),
        destination_emails=destinations,
        state_transition=rule,
    )


def broker_settings(text: str) -> dict[str, str]:
    """broker.conf as the notifier reads it: the shared-config model's broker validator."""
    try:
        conf = parse_broker_conf(text)
    except (ValueError, configparser.Error) as e:
        raise ConfigError(f"broker.conf: {one_line(e)}") from None
    return {**conf.template_fields(), STATE_TRANSITION: conf.state_transition}
