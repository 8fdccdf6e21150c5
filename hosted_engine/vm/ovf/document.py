"""An OVF document: the typed view of the VM plus the whole tree it came from.

The engine owns the OVF. Dropping what we do not model when writing it back is a known
oVirt bug, so the document keeps the parsed tree and every edit changes element text in
that tree, never regenerates it. Serialising keeps the original XML declaration, the
encoding and the whitespace around the root element.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from lxml import etree

from hosted_engine.errors import OvfEditError, OvfError
from hosted_engine.vm.definition import Nic, VmDefinition
from hosted_engine.vm.ovf.editing import EditKey, EditValue, update_copies, write_value
from hosted_engine.vm.ovf.model import DEFINITION_NIC_MODEL, OvfVm
from hosted_engine.vm.ovf.reader import read_vm
from hosted_engine.vm.ovf.safe_xml import parse_untrusted, shown
from hosted_engine.vm.ovf.vm_params import vm_params

_PROLOG = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*\?>\s*")


class OvfDocument:
    def __init__(self, tree: etree._ElementTree, prolog: bytes = b"", epilog: bytes = b"") -> None:
        self._tree = tree
        self._prolog = prolog
        self._epilog = epilog
        self._vm = read_vm(tree.getroot())

    @property
    def vm(self) -> OvfVm:
        return self._vm

    def to_definition(self) -> VmDefinition:
        """The VM as hosted-engine runs it."""
        vm = self._vm
        return VmDefinition(
            vm_id=vm.vm_id,
            name=vm.name,
            mem_size_mib=vm.mem_size_mib,
            min_allocated_mem_mib=vm.min_allocated_mem_mib,
            sockets=vm.sockets,
            cores_per_socket=vm.cores_per_socket,
            threads_per_core=vm.threads_per_core,
            max_vcpus=vm.max_vcpus,
            nics=tuple(
                Nic(
                    mac_addr=nic.mac,
                    network=nic.network or "",
                    model=DEFINITION_NIC_MODEL.get(nic.model, nic.model) if nic.model else "virtio",
                    link_active=nic.link_active,
                )
                for nic in vm.nics
            ),
            cpu_type=vm.cpu_type,
            emulated_machine=vm.emulated_machine,
            display=vm.display,
        )

    def vm_params(self) -> dict[str, Any]:
        """The reference's VDSM parameters (vm.conf), including ``xmlBase64`` when due."""
        return vm_params(self._vm)

    def set(self, key: str, value: EditValue) -> None:
        """Change one value (keys as in vm.conf: ``memSize``, ``nic1.macAddr``...).

        Raises OvfEditError and leaves the document untouched when the key is unknown,
        the value is invalid or inconsistent with the rest, or the embedded libvirt XML
        holds the value in a form this edit cannot keep in line.
        """
        try:
            edit = EditKey.parse(key)
            tree = copy.deepcopy(self._tree)
            write_value(tree.getroot(), edit, value)
            checked = read_vm(tree.getroot())
            update_copies(tree.getroot(), edit, self._vm, checked)
            vm = read_vm(tree.getroot())
        except OvfError as e:
            label = key if len(key) <= 40 and key.isprintable() else shown(key)
            reason = str(e).removeprefix("OVF: ")
            raise OvfEditError(f"cannot set {label} to {shown(value)}: {reason}") from None
        self._tree, self._vm = tree, vm

    def to_bytes(self) -> bytes:
        encoding = self._tree.docinfo.encoding or "UTF-8"
        declare = not self._prolog and encoding.upper() not in ("UTF-8", "ASCII", "US-ASCII")
        body = etree.tostring(self._tree, encoding=encoding, xml_declaration=declare)
        assert isinstance(body, bytes)  # an encoding was given
        return self._prolog + body + self._epilog


def parse_ovf(data: bytes) -> OvfDocument:
    """Parse an OVF from the OVF_STORE; any problem is an OvfError with a one-line message."""
    tree = parse_untrusted(data, "OVF")
    prolog = _PROLOG.match(data)
    if prolog is None and not data.startswith(b"<"):  # UTF-16 and the like: lxml declares
        return OvfDocument(tree)
    return OvfDocument(tree, prolog.group(0) if prolog else b"", data[len(data.rstrip()) :])
