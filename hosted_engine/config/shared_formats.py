"""The file formats behind the configuration types: which keys each offers, and a safe set.

A format answers three questions about one file's text: which keys can be read and what
they hold (``values``), what the text becomes with one key set (``update``), and whether
a text is acceptable at all (``validate``, the same check the file's reader makes).
``update`` always validates its result, so a bad value is refused before anything is
written. The engine VM's format sits behind the same small interface so that its
definition can later move to the OVF_STORE without touching the callers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Protocol

from hosted_engine.config import ha_state, host, ini, keyvalue
from hosted_engine.errors import ConfigError, UsageError
from hosted_engine.vm import definition

BrokerSettings = Callable[[str], Mapping[str, str]]
"""The effective settings of a broker.conf text, defaults filled in, under their file
names; raises ConfigError (one line) for a text its reader would not accept."""


class ConfigFormat(Protocol):
    def values(self, text: str) -> dict[str, str]:
        """Every key that can be read, with its current (effective) value."""
        ...

    def update(self, text: str, key: str, value: str) -> str:
        """``text`` with ``key`` set to ``value``; raises when the result is not valid."""
        ...

    def validate(self, text: str) -> None:
        """Raise a one-line HostedEngineError unless the file's reader accepts ``text``."""
        ...


# --- hosted-engine.conf (he_local, he_shared) -----------------------------------------------

# Every key HostConfig reads, so an admin can set one the file does not have yet.
HOST_KEYS = (
    "host_id",
    "sdUUID",
    "storage",
    "domainType",
    "vmid",
    "fqdn",
    "hostname",
    "conf",
    "engine_health_url",
    "gateway",
    "bridge",
    "network_test",
    "tcp_t_address",
    "tcp_t_port",
    "run_dir",
    "state_dir",
    "log_dir",
    "lease_backend",
    "vm_backend",
    "timing_profile",
)
# Readable but never set here: changing one would detach the host from its slot, its
# storage domain or the engine VM's lease. Redeploying the host is how these change.
IDENTITY_KEYS = frozenset({"host_id", "sdUUID", "storage", "domainType", "vmid"})


class HostConfFormat:
    """``key=value`` lines; every key present in the file plus those HostConfig knows."""

    def __init__(self, source: str) -> None:
        self.source = source

    def values(self, text: str) -> dict[str, str]:
        return {**dict.fromkeys(HOST_KEYS, ""), **keyvalue.parse(text, self.source)}

    def update(self, text: str, key: str, value: str) -> str:
        if key in IDENTITY_KEYS:
            raise UsageError(
                f"Configuration key {key} of type {self.source} cannot be changed: it ties "
                "the host to its storage domain and engine VM (redeploy the host instead)"
            )
        new = keyvalue.update_text(text, {key: value})
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        host.from_values(keyvalue.parse(text, self.source), self.source)


# --- ha.conf (ha) ---------------------------------------------------------------------------

HA_KEYS = (ha_state.LOCAL, ha_state.LOCAL_MANUAL)


class HaStateFormat:
    """This host's two local-maintenance flags; absent means False."""

    source = "ha"

    def values(self, text: str) -> dict[str, str]:
        present = keyvalue.parse(text, self.source)
        return {key: present.get(key, "False") for key in HA_KEYS}

    def update(self, text: str, key: str, value: str) -> str:
        new = keyvalue.update_text(text, {key: value})
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        for key, value in self.values(text).items():
            try:
                ha_state.to_bool(value)
            except ConfigError:
                raise ConfigError(f"ha: {key} must be True or False (got {value!r})") from None


# --- broker.conf (broker) -------------------------------------------------------------------

# Exactly the keys seed 000 makes editable, with the INI section each lives in.
BROKER_KEYS = {
    "smtp-server": "email",
    "smtp-port": "email",
    "source-email": "email",
    "destination-emails": "email",
    "state_transition": "notify",
}


class BrokerConfFormat:
    """INI with bare key names; a key the file does not set shows its default."""

    source = "broker.conf"

    def __init__(self, settings: BrokerSettings) -> None:
        self._settings = settings

    def values(self, text: str) -> dict[str, str]:
        effective = self._settings(text)
        parser = ini.parse(text, self.source)
        values = {}
        for key, section in BROKER_KEYS.items():
            value = parser.get(section, key, fallback=None)
            values[key] = effective[key] if value is None else value
        return values

    def update(self, text: str, key: str, value: str) -> str:
        new = ini.set_option(text, BROKER_KEYS[key], key, value, self.source)
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        self._settings(text)


# --- vm.conf (vm) ---------------------------------------------------------------------------

VM_SCALARS = ("memSize", "minAllocatedMem", "sockets", "coresPerSocket", "threadsPerCore")
_NIC_KEY = re.compile(r"^nic(\d+)\.(?:macAddr|network|model|linkActive)$")


class VmConfFormat:
    """The engine VM's sizing and NICs, named as ``VmDefinition.to_values()`` names them.

    Only the NICs the definition has can be edited; the VM's identity and command cannot.
    """

    source = "vm.conf"

    def _definition(self, text: str) -> tuple[definition.VmDefinition, list[int]]:
        raw = keyvalue.parse(text, self.source)
        indices = sorted({int(m.group(1)) for key in raw if (m := _NIC_KEY.match(key))})
        return definition.from_values(raw, self.source), indices

    def values(self, text: str) -> dict[str, str]:
        vm, indices = self._definition(text)
        out = {
            "memSize": str(vm.mem_size_mib),
            "minAllocatedMem": str(vm.min_allocated_mib),
            "sockets": str(vm.sockets),
            "coresPerSocket": str(vm.cores_per_socket),
            "threadsPerCore": str(vm.threads_per_core),
        }
        for index, nic in zip(indices, vm.nics, strict=True):
            out |= {f"nic{index}.{field}": str(v) for field, v in nic.to_dict().items()}
            out[f"nic{index}.linkActive"] = str(nic.link_active).lower()
        return out

    def update(self, text: str, key: str, value: str) -> str:
        if not value:
            raise UsageError(f"Invalid value for {key}: the engine VM's {key} cannot be empty")
        new = keyvalue.update_text(text, {key: value})
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        self._definition(text)
