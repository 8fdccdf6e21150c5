"""The OVF_STORE: the engine's tar of VM definitions on the storage domain, in two copies.

The engine keeps the OVF of every VM as a member ``<vm_uuid>.ovf`` of a tar (with its
own bookkeeping members beside them) on two OVF_STORE disks of the domain, writes both
on every export, and a reader may use either (ha-anchor §6). Here the two disks are the
files ``<ha_agent>/OVF_STORE.1`` and ``OVF_STORE.2``, as the configuration archive is a
file there rather than a VDSM volume.

* **Reading** takes the engine VM's OVF from the first copy that holds a valid one, so
  one corrupt or unreadable copy (garbage, a directory or a FIFO in its place, an I/O
  error) costs nothing but a warning. A copy is valid when its tar passes the
  checks of :mod:`shared_tar` (flat member names, no links or devices, size and count
  limits) and the VM's member passes the OVF codec (no DTD or entities, well-formed, sane
  values) and names the VM it is filed under.
* **Writing** replaces both copies, copy 1 first, by the compare-and-swap of
  :mod:`shared_tar` against the checksums of both as they were read. A crash between the
  two leaves copy 1 new and copy 2 old, and readers take copy 1. Members that are not
  the engine VM's (other VMs, the engine's bookkeeping) are carried over byte for byte.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hosted_engine.errors import HostedEngineError, OvfError, OvfStoreError
from hosted_engine.files import regular
from hosted_engine.files.atomic import Checkpoint, no_checkpoint
from hosted_engine.storage import shared_tar
from hosted_engine.storage.shared_tar import TarLimits, sha256
from hosted_engine.vm.definition import VmDefinition

if TYPE_CHECKING:  # the OVF codec (lxml) is imported when an OVF is read, not before
    from hosted_engine.vm.ovf import OvfDocument, OvfVm

COPY_NAMES = ("OVF_STORE.1", "OVF_STORE.2")
LOCK_NAME = "OVF_STORE.lock"
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 4 << 20  # the OVF codec's MAX_XML_BYTES: no bigger OVF can be parsed
# an engine with many VMs keeps them all here: room for a thousand 64 KiB OVFs
LIMITS = TarLimits(member_bytes=MAX_MEMBER_BYTES, total_bytes=64 << 20, members=MAX_MEMBERS)
# The checksum of a copy that cannot be read at all (a directory or a FIFO in its place,
# EIO): it never matches the file, so a write against this read is refused, not forced.
UNREADABLE = "unreadable"
_MEMBER_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,254}$")


def member_name(vm_id: str) -> str:
    return f"{vm_id}.ovf"


def _name_problem(name: str) -> str | None:
    if not _MEMBER_NAME.match(name):
        return f"member {name[:60]!r} is not a plain file name"
    return None


def boot_image(vm: OvfVm) -> str | None:
    """The image of the disk the VM boots from: the lowest boot order, else the first disk."""
    booting = sorted((d for d in vm.disks if d.boot_order > 0), key=lambda d: d.boot_order)
    disk = booting[0] if booting else next(iter(vm.disks), None)
    return None if disk is None else disk.image_id


@dataclass(frozen=True)
class StoreCopy:
    """One copy as read: its checksum (None: absent) and members (None: absent or refused)."""

    path: Path
    checksum: str | None
    members: Mapping[str, bytes] | None
    problem: str | None = None


@dataclass(frozen=True)
class VmOvf:
    """The engine VM's OVF as found in one copy, and what is wrong with the others."""

    data: bytes
    document: OvfDocument
    copy: StoreCopy
    problems: tuple[str, ...]

    def definition(self) -> VmDefinition:
        """What the VM backend starts: the codec's definition plus the boot disk's image."""
        return dataclasses.replace(
            self.document.to_definition(), boot_image_id=boot_image(self.document.vm)
        )


@dataclass(frozen=True)
class StoreSnapshot:
    copies: tuple[StoreCopy, ...]

    @property
    def exists(self) -> bool:
        return any(copy.checksum is not None for copy in self.copies)

    @property
    def expected(self) -> dict[Path, str | None]:
        """What a compare-and-swap against this read expects to find."""
        return {copy.path: copy.checksum for copy in self.copies}

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(copy.problem for copy in self.copies if copy.problem is not None)

    def base_members(self) -> dict[str, bytes]:
        """The members of the first sound copy, the base of a write; {} when none is."""
        sound = (copy.members for copy in self.copies if copy.members is not None)
        return dict(next(sound, {}))

    def vm_ovf(self, vm_id: str) -> VmOvf | None:
        """The VM's OVF from the first copy holding a valid one.

        None when no copy holds one at all (no OVF_STORE, or the engine has not exported
        the VM yet); OvfStoreError when a copy should have, but none can be used.
        """
        name = member_name(vm_id)
        problems = list(self.problems)
        for copy in self.copies:
            if copy.members is None or name not in copy.members:
                continue
            data = copy.members[name]
            try:
                document = check_vm_ovf(data, vm_id, f"{copy.path}: {name}")
            except OvfError as e:
                problems.append(str(e))
                continue
            return VmOvf(data, document, copy, tuple(problems))
        if problems:
            raise OvfStoreError(f"no usable OVF of the engine VM: {'; '.join(problems)}")
        return None


class OvfStore:
    def __init__(self, ha_dir: Path) -> None:
        self.paths = tuple(Path(ha_dir) / name for name in COPY_NAMES)
        self.lock_path = Path(ha_dir) / LOCK_NAME

    def _read_copy(self, path: Path) -> StoreCopy:
        try:
            data = regular.read_bounded(path, LIMITS.total_bytes, OvfStoreError)
        except OvfStoreError as e:  # unreadable or oversize: the checksum still guards writes
            try:
                checksum = shared_tar.fingerprint(path, OvfStoreError)
            except OvfStoreError:  # not even that: no write can expect what it holds
                checksum = UNREADABLE
            return StoreCopy(path, checksum, None, str(e))
        if data is None:
            return StoreCopy(path, None, None)
        try:
            members = shared_tar.decode(data, str(path), LIMITS, _name_problem, OvfStoreError)
        except OvfStoreError as e:
            return StoreCopy(path, sha256(data), None, str(e))
        return StoreCopy(path, sha256(data), members)

    def read(self) -> StoreSnapshot:
        """Both copies, each checked; never raises for what a copy holds."""
        return StoreSnapshot(tuple(self._read_copy(path) for path in self.paths))

    def replace(
        self,
        expected: Mapping[Path, str | None],
        members: Mapping[str, bytes],
        *,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        """Write ``members`` to both copies if each still has its ``expected`` checksum."""
        data = shared_tar.encode(members, LIMITS, OvfStoreError)
        if len(data) > LIMITS.total_bytes or len(members) > LIMITS.members:
            raise OvfStoreError(f"the OVF_STORE would be over its limits ({len(data)} bytes)")
        ordered = {path: expected[path] for path in self.paths}  # copy 1 first
        shared_tar.swap(self.lock_path, ordered, data, error=OvfStoreError, checkpoint=checkpoint)

    def put_vm_ovf(self, vm_id: str, data: bytes, source: str, *, overwrite: bool) -> bool:
        """Store ``data`` as the engine VM's OVF once it checks out; False when the store
        already holds exactly that. Refuses to replace another OVF unless ``overwrite``;
        a store no copy of which can be read is replaced only with ``overwrite``."""
        check_vm_ovf(data, vm_id, source)
        snapshot = self.read()
        name = member_name(vm_id)
        base = snapshot.base_members()
        if not overwrite:
            if snapshot.exists and not any(c.members is not None for c in snapshot.copies):
                raise OvfStoreError(
                    f"the OVF_STORE cannot be read ({'; '.join(snapshot.problems)}); "
                    "replacing it needs --force"
                )
            if name in base:
                raise OvfStoreError(
                    f"the OVF_STORE already holds an OVF of the engine VM ({name}); "
                    "replacing it needs --force"
                )
        if all(c.members is not None and c.members.get(name) == data for c in snapshot.copies):
            return False
        self.replace(snapshot.expected, {**base, name: data})
        return True


def check_vm_ovf(data: bytes, vm_id: str, source: str) -> OvfDocument:
    """``data`` parsed as the engine VM's OVF; one-line errors naming ``source``."""
    from hosted_engine.vm.ovf import parse_ovf

    try:
        document = parse_ovf(data)
    except HostedEngineError as e:
        raise OvfError(f"{source}: {e}") from None
    if document.vm.vm_id != vm_id:
        raise OvfError(
            f"{source}: the OVF describes VM {document.vm.vm_id}, not this cluster's engine "
            f"VM {vm_id}"
        )
    return document
