"""Opens the host's ports in an nftables table of our own, and only there.

The ruleset lives in one ``inet hosted_engine`` table whose input chain accepts by
policy: it lists what hosted-engine needs (for the admin, and for a site policy that
drops elsewhere) but never drops the machine's other traffic, and never touches
another table. The file first declares, then deletes, then defines the table, so one
``nft -f`` replaces it atomically: a re-run or a boot-time load never duplicates rules.
"""

from __future__ import annotations

from hosted_engine.deploy import keys
from hosted_engine.errors import HostDeployError
from hosted_engine.installer import Context, Plugin, Stage, event

PROTOCOLS = ("tcp", "udp")


def parse_port(spec: str) -> tuple[int, str]:
    """``N/tcp`` or ``N/udp`` (1..65535), or a HostDeployError naming the bad entry."""
    number, _, protocol = spec.strip().partition("/")
    if protocol not in PROTOCOLS or not number.isascii() or not number.isdigit():
        raise HostDeployError(
            f"{keys.FIREWALL_PORTS.name}: {spec!r} is not PORT/tcp or PORT/udp (e.g. 22/tcp)"
        )
    port = int(number)
    if not 1 <= port <= 65535:
        raise HostDeployError(
            f"{keys.FIREWALL_PORTS.name}: port {port} in {spec!r} is not in 1..65535"
        )
    return port, protocol


def render(ports: list[tuple[int, str]]) -> str:
    table = f"inet {keys.FIREWALL_TABLE}"
    rules = [f"\t\t{proto} dport {port} accept" for port, proto in ports]
    return "\n".join(
        [
            "# Written by hosted-engine-host-deploy: hosted-engine's ports. Replaced as a",
            "# whole on every deploy; other tables are not touched.",
            f"table {table} {{}}",
            f"delete table {table}",
            f"table {table} {{",
            "\tchain input {",
            "\t\ttype filter hook input priority filter; policy accept;",
            "\t\tct state established,related accept",
            '\t\tiifname "lo" accept',
            *rules,
            "\t}",
            "}",
            "",
        ]
    )


class Firewall(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, keys.NFTABLES_ENABLE, keys.NFTABLES_APPLY, keys.FIREWALL_PORTS)
        self.commands.detect("nft")

    def _enabled(self) -> bool:
        return self.environment[keys.ACTION] == "deploy" and self.environment[keys.NFTABLES_ENABLE]

    def _ports(self) -> list[tuple[int, str]]:
        seen: list[tuple[int, str]] = []
        for spec in self.environment[keys.FIREWALL_PORTS]:
            parsed = parse_port(spec)
            if parsed not in seen:
                seen.append(parsed)
        return seen

    @event(
        stage=Stage.VALIDATION,
        name="hosted-engine-host-deploy.firewall.validate",
        condition=lambda self: self._enabled(),
    )
    def validate(self) -> None:
        self._ports()
        if self.environment[keys.NFTABLES_APPLY]:
            self.commands.require("nft")

    @event(
        stage=Stage.MISC,
        name="hosted-engine-host-deploy.firewall.write",
        condition=lambda self: self._enabled(),
    )
    def write(self) -> None:
        ports = self._ports()
        shown = ", ".join(f"{port}/{proto}" for port, proto in ports)
        self.dialog.note(f"Firewall: ports {shown} in {keys.FIREWALL_FILE}")
        self.write_file(keys.FIREWALL_FILE, render(ports), mode=0o644)

    @event(
        stage=Stage.CLOSEUP,
        name="hosted-engine-host-deploy.firewall.apply",
        before=(keys.SERVICES_START_EVENT,),
        condition=lambda self: self._enabled() and self.environment[keys.NFTABLES_APPLY],
    )
    def apply(self) -> None:
        self.dialog.note(f"Firewall: loading table inet {keys.FIREWALL_TABLE}")
        done = self.execute(
            [self.commands.require("nft"), "-f", self.resolve(keys.FIREWALL_FILE)], check=False
        )
        if done.rc != 0:
            said = " ".join(line.strip() for line in done.stderr if line.strip())
            raise HostDeployError(f"nft -f {keys.FIREWALL_FILE} failed: {said or done.rc}")


def create_plugins(context: Context) -> None:
    Firewall(context)
