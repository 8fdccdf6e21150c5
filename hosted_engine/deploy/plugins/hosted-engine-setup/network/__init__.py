"""Network questions: the engine VM's FQDN, the bridge and gateway, and this host's names.

The FQDN is checked to resolve before anything is written (users lost long deploys to an
FQDN that did not resolve, found only at the end).
"""

from __future__ import annotations

import socket

from hosted_engine.deploy import setup_ask
from hosted_engine.deploy import setup_keys as K
from hosted_engine.installer import Context, Plugin, Stage, event

ROUTES = "/proc/net/route"


def default_gateway() -> str | None:
    """The IPv4 default route's gateway, if this host has one."""
    try:
        with open(ROUTES, encoding="ascii") as f:
            for line in list(f)[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    except (OSError, ValueError):
        return None
    return None


def resolves(name: str) -> str | None:
    try:
        socket.getaddrinfo(name, None)
    except (OSError, UnicodeError) as e:
        return f"{name} does not resolve ({e}); add it to DNS or /etc/hosts first"
    return None


class Network(Plugin):
    @event(
        stage=Stage.CUSTOMIZATION,
        name="hosted-engine-setup.network.ask",
        after=("hosted-engine-setup.storage.ask",),
        condition=lambda self: not self.environment[K.DEPLOYED],
    )
    def ask(self) -> None:
        setup_ask.ask(self, K.FQDN, "Engine VM FQDN:", socket.getfqdn(), check=resolves)
        setup_ask.ask(self, K.BRIDGE, "Name of the management bridge:")
        setup_ask.ask(self, K.GATEWAY, "Gateway IP address:", default_gateway())
        setup_ask.ask(self, K.NETWORK_TEST, "Network test (ping, dns, tcp, none):")
        host_name = setup_ask.ask(self, K.HOST_NAME, "This host's name:", socket.gethostname())
        setup_ask.ask(self, K.HOST_ADDRESS, "Address the manager reaches this host at:", host_name)
        setup_ask.ask(self, K.HOSTD_PORT, "Port of this host's API:")


def create_plugins(context: Context) -> None:
    Network(context)
