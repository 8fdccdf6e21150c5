"""A stand-in for the host-deploy group until it is merged: the contract of
hosted_engine/deploy/keys.py only (conf from HOSTED_ENGINE_CONFIG/*, inline PKI between
the two named events, services started at the named event through a command)."""

from __future__ import annotations

import shlex

from hosted_engine.deploy import keys
from hosted_engine.deploy import setup_keys as K
from hosted_engine.installer import STR, Context, Plugin, Stage, event, key
from hosted_engine.pki import make_csr, new_key
from hosted_engine.pki.ca import key_pem

SERVICES_COMMAND = key("STUB/servicesCommand", STR)


class Stub(Plugin):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.declare(keys.ACTION, keys.CERT_ADDRESS, keys.CERT_REQUEST, keys.CERT_CHAIN)
        self.declare(SERVICES_COMMAND, *(K.config_key(n) for n in K.CONFIG_NAMES))
        self._key = new_key()

    def _deploying(self) -> bool:
        return self.environment[keys.ACTION] == "deploy"

    @event(stage=Stage.MISC, name="stub.conf", condition=lambda self: self._deploying())
    def conf(self) -> None:
        lines = []
        for name in K.CONFIG_NAMES:
            value = self.environment.get(keys.CONFIG_PREFIX + name)
            if value is not None:
                lines.append(f"{name}={value}")
        self.write_file(keys.CONFIG_FILE, "\n".join(lines) + "\n")

    @event(stage=Stage.MISC, name=keys.PKI_REQUEST_EVENT, condition=lambda self: self._deploying())
    def request(self) -> None:
        address = self.environment[keys.CERT_ADDRESS] or "localhost"
        self.environment[keys.CERT_REQUEST] = make_csr(self._key, address).decode()

    @event(
        stage=Stage.MISC,
        name=keys.PKI_INSTALL_EVENT,
        after=(keys.PKI_REQUEST_EVENT,),
        condition=lambda self: self._deploying(),
    )
    def install(self) -> None:
        chain = self.environment[keys.CERT_CHAIN]
        assert chain is not None, "nobody signed the request"
        marker = "-----END CERTIFICATE-----\n"
        ca, _, cert = chain.partition(marker)
        self.write_file(keys.CA_FILE, ca + marker)
        self.write_file(keys.CERT_FILE, cert)
        self.write_file(keys.KEY_FILE, key_pem(self._key).decode(), mode=0o600)

    @event(
        stage=Stage.CLOSEUP,
        name=keys.SERVICES_START_EVENT,
        condition=lambda self: self._deploying(),
    )
    def start(self) -> None:
        command = self.environment[SERVICES_COMMAND]
        assert command is not None
        for unit in ("hosted-engine-broker", "hosted-engine-hostd", "hosted-engine-agent"):
            self.execute([*shlex.split(command), "start", unit])


def create_plugins(context: Context) -> None:
    Stub(context)
