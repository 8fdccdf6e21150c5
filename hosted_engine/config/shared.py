"""The hosted-engine configuration as typed keys: find a key, get it, set it (seed 000).

Five types, in the reference's order (ha-anchor 5.2):

=========== ============================================ ==================================
type        where                                        keys
=========== ============================================ ==================================
he_local    this host's hosted-engine.conf (``--config``) its keys, oVirt's and those
                                                          HostConfig reads (oVirt's optional
                                                          ones read ``None`` when unset)
broker      ``broker.conf`` in the archive (INI)          smtp-server, smtp-port,
                                                          source-email, destination-emails,
                                                          state_transition (also by oVirt's
                                                          names: email.smtp-server, ...,
                                                          email.smtp-timeout, not listed)
he_shared   ``hosted-engine.conf`` in the archive         as he_local; read by hosts
                                                          deployed later, not running ones
ha          this host's ``<state_dir>/ha.conf``           local_maintenance,
                                                          local_maintenance_manual
vm          the engine VM's OVF in the OVF_STORE; until   memSize, minAllocatedMem, sockets,
            there is one, ``vm.conf`` in the archive      coresPerSocket, threadsPerCore,
                                                          nic<N>.macAddr|network|model|
                                                          linkActive
=========== ============================================ ==================================

Every type can be read and written. A key asked for without a type must be in exactly one
type. Setting a key to the value it has changes nothing (D8). Archive types are written
by compare-and-swap against the archive read at the start of the set, so a concurrent
change is refused, never overwritten (D6); the engine VM's OVF likewise against both
OVF_STORE copies; the local files are written under a lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hosted_engine import __version__
from hosted_engine.config.host import HostConfig, config_path
from hosted_engine.config.shared_formats import (
    BrokerConfFormat,
    ConfigFormat,
    HaStateFormat,
    HostConfFormat,
    OvfVmFormat,
    VmConfFormat,
)
from hosted_engine.errors import (
    ConfigArchiveError,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    DuplicateConfigKeyError,
    HostedEngineError,
    UsageError,
)
from hosted_engine.files import keyvalue
from hosted_engine.files.text import is_printable_line
from hosted_engine.storage.config_archive import (
    MEMBERS,
    VERSION,
    ArchiveSnapshot,
    ConfigArchive,
    decode,
    exclusive_lock,
)
from hosted_engine.storage.ovf_store import OvfStore, StoreSnapshot, VmOvf, member_name
from hosted_engine.storage.shared_tar import sha256

HE_SHARED_MEMBER = "hosted-engine.conf"
BROKER_MEMBER = "broker.conf"
VM_MEMBER = "vm.conf"
# no key holds more than a path or a command line: a longer value is a mistake
MAX_VALUE_CHARS = 4096


@dataclass(frozen=True)
class ConfigType:
    """One type: its format, and where its text lives (an archive member or a local file)."""

    name: str
    format: ConfigFormat
    member: str | None = None
    path: Path | None = None
    in_ovf_store: bool = False  # the engine VM's OVF


@dataclass(frozen=True)
class ConfigChange:
    """A write that happened: the checksums of the file (or archive) before and after."""

    config_type: str
    before: str
    after: str


def _text(name: str, data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigArchiveError(f"{source}: {name} is not UTF-8 text") from None


def _read_local(path: Path) -> str:
    return keyvalue.read(path) or ""


def _clean_value(key: str, value: str) -> str:
    """The value as it will be stored: one printable line, in every type (a line
    separator would let the file's next reader see a second ``key=value``)."""
    value = value.strip()
    if not is_printable_line(value):
        raise UsageError(f"Invalid value for {key}: {keyvalue.NOT_ONE_LINE}")
    if len(value) > MAX_VALUE_CHARS:
        raise UsageError(
            f"Invalid value for {key}: {len(value)} characters, at most {MAX_VALUE_CHARS}"
        )
    return value


def config_types(config: HostConfig) -> tuple[ConfigType, ...]:
    """The five types of ``config``'s host, in the reference's order."""
    return (
        ConfigType("he_local", HostConfFormat("he_local"), path=config.path or config_path()),
        ConfigType("broker", BrokerConfFormat(), member=BROKER_MEMBER),
        ConfigType("he_shared", HostConfFormat("he_shared"), member=HE_SHARED_MEMBER),
        ConfigType("ha", HaStateFormat(), path=config.ha_state_path),
        ConfigType("vm", VmConfFormat(), member=VM_MEMBER),
    )


@dataclass
class _Reading:
    """What one lookup read: the archive (when a type lives there), the OVF_STORE (when
    the engine VM's OVF lives there), and each type asked for with its text."""

    archive: ArchiveSnapshot | None = None
    store: StoreSnapshot | None = None
    ovf: VmOvf | None = None
    kinds: dict[str, ConfigType] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, dict[str, str]]:
        return {name: self.kinds[name].format.values(t) for name, t in self.texts.items()}

    def lookup_values(self) -> dict[str, dict[str, str]]:
        """As :meth:`values`, with the names a type also answers to (broker: oVirt's
        ``section.option``), which are not listed."""
        out = {}
        for name, text in self.texts.items():
            kind = self.kinds[name].format
            lookup = kind.lookup_values if isinstance(kind, BrokerConfFormat) else kind.values
            out[name] = lookup(text)
        return out


def check_members(members: Mapping[str, bytes], config: HostConfig, source: str) -> dict[str, str]:
    """Every member as text, each checked the way its reader will read it.

    The archive must also describe *this* deployment: its storage domain and engine VM,
    so an archive from another deployment is never taken for ours.
    """
    texts = {name: _text(name, data, source) for name, data in members.items()}
    for kind in config_types(config):
        if kind.member is not None:
            try:
                kind.format.validate(texts[kind.member])
            except HostedEngineError as e:
                raise ConfigArchiveError(f"{source}: member {kind.member}: {e}") from None
    sd_uuid = keyvalue.parse(texts[HE_SHARED_MEMBER]).get("sdUUID")
    if sd_uuid != config.sd_uuid:
        raise ConfigArchiveError(
            f"{source}: hosted-engine.conf is for storage domain {sd_uuid}, not {config.sd_uuid}"
        )
    vm_id = keyvalue.parse(texts[VM_MEMBER]).get("vmId")
    if config.vm_id and vm_id != config.vm_id:
        raise ConfigArchiveError(f"{source}: vm.conf is for VM {vm_id}, not {config.vm_id}")
    return texts


class SharedConfig:
    def __init__(self, config: HostConfig, archive: ConfigArchive | None = None) -> None:
        self.config = config
        self.archive = archive or ConfigArchive.in_domain(config.ha_dir)
        self.ovf_store = OvfStore(config.ha_dir)
        self._local_lock = config.local_config_lock
        self._types = {kind.name: kind for kind in config_types(config)}
        self._ovf_vm = ConfigType("vm", OvfVmFormat(), in_ovf_store=True)

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(self._types)

    # --- reading --------------------------------------------------------------------------
    def _select(self, config_type: str | None) -> list[str]:
        if config_type is None:
            return list(self._types)
        if config_type not in self._types:
            raise ConfigTypeError(config_type, self.type_names)
        return [config_type]

    def _read(self, names: list[str]) -> _Reading:
        """One archive read (when a named type lives there), the OVF_STORE (for vm), and
        the local files."""
        reading = _Reading()
        for name in names:
            kind = self._types[name]
            if name == self._ovf_vm.name and self._read_vm_ovf(reading):
                assert reading.ovf is not None
                reading.kinds[name] = self._ovf_vm
                reading.texts[name] = _text(
                    member_name(reading.ovf.document.vm.vm_id),
                    reading.ovf.data,
                    str(reading.ovf.copy.path),
                )
                continue
            reading.kinds[name] = kind
            if kind.member is not None:
                reading.archive = reading.archive or self.archive.read()
                data = reading.archive.members[kind.member]
                reading.texts[name] = _text(kind.member, data, str(self.archive.path))
            else:
                assert kind.path is not None
                reading.texts[name] = _read_local(kind.path)
        return reading

    def _read_vm_ovf(self, reading: _Reading) -> bool:
        """Whether the engine VM's OVF is in the OVF_STORE (then in ``reading``)."""
        if not self.config.vm_id:
            return False
        reading.store = self.ovf_store.read()
        reading.ovf = reading.store.vm_ovf(self.config.vm_id)
        return reading.ovf is not None

    def _find(self, key: str, values: Mapping[str, Mapping[str, str]]) -> str:
        found = [name for name, keys in values.items() if key in keys]
        if not found:
            raise ConfigKeyError(key, self.keys())
        if len(found) > 1:
            raise DuplicateConfigKeyError(key, found)
        return found[0]

    def get_all(self, config_type: str | None = None) -> dict[str, dict[str, str]]:
        """``{type: {key: value}}``, keys sorted."""
        values = self._read(self._select(config_type)).values()
        return {name: dict(sorted(v.items())) for name, v in values.items()}

    def keys(self, config_type: str | None = None) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.get_all(config_type).items()}

    def locate(self, key: str, config_type: str | None = None) -> str:
        """The one type holding ``key`` (the type checked first, then the key)."""
        return self._find(key, self._read(self._select(config_type)).lookup_values())

    def get(self, key: str, config_type: str | None = None) -> tuple[str, str]:
        """``(value, type)``."""
        values = self._read(self._select(config_type)).lookup_values()
        kind = self._find(key, values)
        return values[kind][key], kind

    # --- writing --------------------------------------------------------------------------
    def set(self, key: str, value: str, config_type: str | None = None) -> ConfigChange | None:
        """Set one key; None when it already had that value (nothing is written)."""
        value = _clean_value(key, value)
        reading = self._read(self._select(config_type))
        values = reading.lookup_values()
        name = self._find(key, values)
        if values[name][key] == value:
            return None
        kind = reading.kinds[name]
        if kind.path is not None:
            return self._set_local(kind, kind.path, key, value)
        new = kind.format.update(reading.texts[name], key, value)
        if kind.in_ovf_store:
            assert reading.store is not None and reading.ovf is not None
            found = reading.ovf
            assert found.copy.members is not None
            ovf_name = member_name(found.document.vm.vm_id)
            members = {**found.copy.members, ovf_name: new.encode()}
            self.ovf_store.replace(reading.store.expected, members)
            return ConfigChange(name, sha256(found.data), sha256(new.encode()))
        snapshot = reading.archive
        assert snapshot is not None and kind.member is not None
        members = {**snapshot.members, kind.member: new.encode(), VERSION: __version__.encode()}
        try:  # the other members are rewritten too: never as if they were fine when they are not
            check_members(members, self.config, str(self.archive.path))
        except ConfigArchiveError as e:
            raise ConfigArchiveError(
                f"cannot set {key}: the archive must be fixed first (--download-shared-config, "
                f"edit, --upload-shared-config): {e}"
            ) from None
        after = self.archive.replace(snapshot.checksum, members)
        return ConfigChange(name, snapshot.checksum, after.checksum)

    def _set_local(self, kind: ConfigType, path: Path, key: str, value: str) -> ConfigChange | None:
        """A read-modify-write under this host's lock: local files need no optimism."""
        try:
            self._local_lock.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create {self._local_lock.parent}: {e.strerror}") from None
        with exclusive_lock(self._local_lock):
            old = _read_local(path)
            if kind.format.values(old).get(key) == value:
                return None
            new = kind.format.update(old, key, value)
            try:
                mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
                keyvalue.atomic_write(path, new, mode)
            except OSError as e:
                raise ConfigError(f"{path}: cannot write: {e.strerror}") from None
        return ConfigChange(kind.name, sha256(old.encode()), sha256(new.encode()))

    # --- the whole archive ----------------------------------------------------------------
    def download(self) -> bytes:
        """The archive's bytes, refused when it is not a safe, complete archive."""
        data = self.archive.read_raw()
        decode(data, str(self.archive.path))
        return data

    def upload(self, data: bytes, source: str) -> ConfigChange | None:
        """Replace the whole archive with ``data`` once every member checks out.

        The current archive need not be readable: uploading is how a broken one is fixed.
        """
        members = decode(data, source)
        check_members(members, self.config, source)
        try:
            current: ArchiveSnapshot | None = self.archive.read()
        except ConfigArchiveError:
            current = None
        before = current.checksum if current is not None else self.archive.fingerprint()
        if current is not None and all(
            current.members[name] == members[name] for name in MEMBERS if name != VERSION
        ):
            return None
        after = self.archive.replace(before, {**members, VERSION: __version__.encode()})
        return ConfigChange("archive", before or "", after.checksum)
