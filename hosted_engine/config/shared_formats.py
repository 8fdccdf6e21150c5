"""The file formats behind the configuration types: which keys each offers, and a safe set.

A format answers three questions about one file's text: which keys can be read and what
they hold (``values``), what the text becomes with one key set (``update``), and whether
a text is acceptable at all (``validate``, the same check the file's reader makes).
``update`` always validates its result, so a bad value is refused before anything is
written. The engine VM has two formats behind the same interface, with the same keys: its
OVF (in the OVF_STORE) and, before there is one, the archive's ``vm.conf``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

from hosted_engine.config import ha_state, host, ini
from hosted_engine.config.broker_conf import broker_settings
from hosted_engine.errors import ConfigError, OvfEditError, UsageError
from hosted_engine.files import keyvalue
from hosted_engine.vm import definition

if TYPE_CHECKING:
    from hosted_engine.vm.ovf import OvfDocument


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

# The keys of oVirt's hosted-engine.conf (ha-anchor 0): listed and readable as oVirt
# lists them, so scripts written for it find them here too.
OVIRT_HOST_KEYS = (
    "fqdn",
    "vm_disk_id",
    "vm_disk_vol_id",
    "vmid",
    "storage",
    "mnt_options",
    "nfs_version",
    "conf",
    "host_id",
    "console",
    "domainType",
    "spUUID",
    "sdUUID",
    "connectionUUID",
    "ca_cert",
    "ca_subject",
    "vdsm_use_ssl",
    "gateway",
    "bridge",
    "metadata_volume_UUID",
    "metadata_image_UUID",
    "lockspace_volume_UUID",
    "lockspace_image_UUID",
    "conf_volume_UUID",
    "conf_image_UUID",
    "iqn",
    "portal",
    "user",
    "password",
    "port",
    "configured",
)
# oVirt's optional keys: one that is not set reads as ``None``, as oVirt shows it.
OPTIONAL_HOST_KEYS = ("network_test", "tcp_t_address", "tcp_t_port", "iscsi_paths_blacklist")
UNSET_OPTIONAL = "None"

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
    "process_command",
    "process_data_dir",
    "timing_profile",
    "watchdog",
    "libvirt_uri",
    "fault_file",
    "sanlock_run_dir",
    "sanlock_io_timeout",
    "metrics_listen",
    "ha_priority",
)
# Readable but never set here: changing one would detach the host from its slot, its
# storage domain or the engine VM's lease. Redeploying the host is how these change.
IDENTITY_KEYS = frozenset({"host_id", "sdUUID", "storage", "domainType", "vmid"})


class HostConfFormat:
    """``key=value`` lines; every key present in the file plus those HostConfig knows."""

    def __init__(self, source: str) -> None:
        self.source = source

    def values(self, text: str) -> dict[str, str]:
        return {
            **dict.fromkeys(OVIRT_HOST_KEYS + HOST_KEYS, ""),
            **dict.fromkeys(OPTIONAL_HOST_KEYS, UNSET_OPTIONAL),
            **keyvalue.parse(text, self.source),
        }

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

# Exactly the keys seed 000 makes editable (and lists), with the INI section each lives in.
BROKER_KEYS = {
    "smtp-server": "email",
    "smtp-port": "email",
    "source-email": "email",
    "destination-emails": "email",
    "state_transition": "notify",
}
# oVirt names broker.conf options ``section.option``: those names work for get and set
# too, beside the seed's bare names (which alone are listed, as the seed lists them).
# ``email.smtp-timeout`` has no bare name: the seed does not offer it.
BROKER_ALIASES = {
    **{f"{section}.{key}": (section, key) for key, section in BROKER_KEYS.items()},
    "email.smtp-timeout": ("email", "smtp-timeout"),
}


class BrokerConfFormat:
    """INI with bare key names; a key the file does not set shows its default."""

    source = "broker.conf"

    def values(self, text: str) -> dict[str, str]:
        """The seed's keys (what is listed); :meth:`lookup_values` adds oVirt's names."""
        effective = broker_settings(text)
        parser = ini.parse(text, self.source)
        values = {}
        for key, section in BROKER_KEYS.items():
            value = parser.get(section, key, fallback=None)
            values[key] = effective[key] if value is None else value
        return values

    def lookup_values(self, text: str) -> dict[str, str]:
        """Every name a key can be asked for by: the seed's and oVirt's."""
        effective = broker_settings(text)
        parser = ini.parse(text, self.source)
        values = self.values(text)
        for alias, (section, option) in BROKER_ALIASES.items():
            value = parser.get(section, option, fallback=None)
            values[alias] = effective.get(option, "") if value is None else value
        return values

    def update(self, text: str, key: str, value: str) -> str:
        section, option = BROKER_ALIASES.get(key) or (BROKER_KEYS[key], key)
        new = ini.set_option(text, section, option, value, self.source)
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        broker_settings(text)


# --- the engine VM (vm): vm.conf, or its OVF ---------------------------------------------------

VM_SCALARS = ("memSize", "minAllocatedMem", "sockets", "coresPerSocket", "threadsPerCore")
_NIC_KEY = re.compile(r"^nic(\d+)\.(?:macAddr|network|model|linkActive)$")


def definition_values(vm: definition.VmDefinition, indices: list[int]) -> dict[str, str]:
    """The editable keys of ``vm``, its NICs numbered by ``indices``, named as
    ``hosted-engine --show-vm-definition --json`` names them."""
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


def _require_value(key: str, value: str) -> None:
    if not value:
        raise UsageError(f"Invalid value for {key}: the engine VM's {key} cannot be empty")


class VmConfFormat:
    """The engine VM's sizing and NICs in a vm.conf, as ``VmDefinition.to_values()`` names them.

    Only the NICs the definition has can be edited; the VM's identity cannot.
    """

    source = "vm.conf"

    def _definition(self, text: str) -> tuple[definition.VmDefinition, list[int]]:
        raw = keyvalue.parse(text, self.source)
        indices = sorted({int(m.group(1)) for key in raw if (m := _NIC_KEY.match(key))})
        vm = definition.from_values(raw, self.source, devices=definition.device_lines(text))
        # NICs only oVirt's devices= lines describe are numbered from 1, in their order
        return vm, indices or list(range(1, len(vm.nics) + 1))

    def values(self, text: str) -> dict[str, str]:
        return definition_values(*self._definition(text))

    def update(self, text: str, key: str, value: str) -> str:
        _require_value(key, value)
        if _NIC_KEY.match(key) and not any(_NIC_KEY.match(k) for k in keyvalue.parse(text)):
            # the NICs come from devices= lines: write them out as nic<N>. keys first,
            # which then take precedence, so the edit changes one value and nothing else
            vm, indices = self._definition(text)
            nics = {k: v for k, v in definition_values(vm, indices).items() if _NIC_KEY.match(k)}
            text = keyvalue.update_text(text, nics)
        new = keyvalue.update_text(text, {key: value})
        self.validate(new)
        return new

    def validate(self, text: str) -> None:
        self._definition(text)


class OvfVmFormat:
    """The engine VM's OVF (UTF-8 XML), with the keys of :class:`VmConfFormat`.

    NICs are numbered as the OVF orders its NICs that have a MAC address. An edit changes
    only the elements that hold the value (the OVF codec's ``OvfDocument.set``).
    """

    source = "OVF"

    @staticmethod
    def _parse(text: str) -> OvfDocument:
        from hosted_engine.vm.ovf import parse_ovf  # lxml: only for the verbs that need it

        return parse_ovf(text.encode())

    def values(self, text: str) -> dict[str, str]:
        vm = self._parse(text).to_definition()
        return definition_values(vm, list(range(1, len(vm.nics) + 1)))

    def update(self, text: str, key: str, value: str) -> str:
        _require_value(key, value)
        document = self._parse(text)
        document.set(key, value)
        try:
            return document.to_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise OvfEditError(f"cannot set {key}: the OVF is not encoded as UTF-8") from None

    def validate(self, text: str) -> None:
        self._parse(text)
