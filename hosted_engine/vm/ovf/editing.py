"""Editing one value of an OVF in place, touching only the elements that carry it.

An edit runs on a private copy of the tree in two steps around a full re-read (which is
what validates the value): :func:`write_value` puts the new text in the element named by
the key, then :func:`update_copies` brings the other places that hold the same value in
line: the CPU Item's ``rasd:VirtualQuantity`` (the vCPU total, when present) and the
engine's libvirt XML (see :mod:`engine_xml`). Human labels that merely mention a value
(``rasd:Caption`` "4096 MB of memory", the hardware section's ``Info``) are left alone:
nothing reads them and the engine rewrites them on its next export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from hosted_engine.errors import OvfEditError
from hosted_engine.vm.ovf.engine_xml import EngineXml
from hosted_engine.vm.ovf.layout import RASD, Element, OvfLayout, locate, text
from hosted_engine.vm.ovf.model import NIC_MODEL_CODES, OvfVm
from hosted_engine.vm.ovf.safe_xml import shown

EditValue = str | int | bool

EDITABLE_KEYS = (
    "memSize",
    "minAllocatedMem",
    "sockets",
    "coresPerSocket",
    "threadsPerCore",
    "nic<N>.macAddr",
    "nic<N>.network",
    "nic<N>.model",
    "nic<N>.linkActive",
)
_NIC_KEY = re.compile(r"^nic([1-9][0-9]{0,3})\.(macAddr|network|model|linkActive)$")
# key -> (element, the element a missing one is created after)
_CPU_FIELDS = {
    "sockets": (RASD + "num_of_sockets", RASD + "ResourceType"),
    "coresPerSocket": (RASD + "cpu_per_socket", RASD + "num_of_sockets"),
    "threadsPerCore": (RASD + "threads_per_cpu", RASD + "cpu_per_socket"),
}
_NIC_FIELDS = {
    "macAddr": RASD + "MACAddress",
    "network": RASD + "Connection",
    "model": RASD + "ResourceSubType",
    "linkActive": RASD + "Linked",
}


@dataclass(frozen=True)
class EditKey:
    field: str  # memSize, ..., or a NIC field: macAddr, network, model, linkActive
    nic: int | None = None  # 0-based index into OvfLayout.nic_items()

    @classmethod
    def parse(cls, key: str) -> EditKey:
        if key in ("memSize", "minAllocatedMem") or key in _CPU_FIELDS:
            return cls(key)
        match = _NIC_KEY.match(key)
        if match is None:
            raise OvfEditError(f"not an editable key; editable: {', '.join(EDITABLE_KEYS)}")
        return cls(match.group(2), int(match.group(1)) - 1)


def _set_text(parent: Element, tag: str, value: str, after: str) -> None:
    """Set ``tag``'s text, creating it after ``after`` (indented like it) if missing."""
    element = parent.find(tag)
    if element is None:
        element = etree.Element(tag)
        anchor = parent.find(after)
        if anchor is None:
            parent.append(element)
        else:
            anchor.addnext(element)
            element.tail = anchor.tail
    element.text = value


def _as_text(value: EditValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _nic_item(layout: OvfLayout, index: int) -> Element:
    items = layout.nic_items()
    if index >= len(items):
        raise OvfEditError(f"the OVF has {len(items)} NIC(s) with a MAC address")
    return items[index]


def _nic_value(field: str, value: EditValue) -> str:
    raw = _as_text(value)
    if field == "model":
        if raw not in NIC_MODEL_CODES:
            raise OvfEditError(f"{shown(raw)} is not a NIC model ({', '.join(NIC_MODEL_CODES)})")
        return str(NIC_MODEL_CODES[raw])
    if field == "network" and not (0 < len(raw) <= 256 and raw.isprintable()):
        raise OvfEditError(f"{shown(raw)} is not a network name")
    return raw.lower() if field == "macAddr" else raw


def _set_second_network_copy(item: Element, network: str) -> None:
    """The engine writes a NIC's network twice: in Connection and in OtherResourceType."""
    other, connection = item.find(RASD + "OtherResourceType"), text(item, RASD + "Connection")
    if other is not None and text(item, RASD + "OtherResourceType") == connection:
        other.text = network


def write_value(root: Element, key: EditKey, value: EditValue) -> None:
    """Put ``value`` into the element that ``key`` names; the caller re-reads to validate."""
    layout = locate(root)
    if key.field == "memSize":
        _set_text(layout.memory, RASD + "VirtualQuantity", _as_text(value), RASD + "ResourceType")
    elif key.field == "minAllocatedMem":
        _set_text(layout.content, "MinAllocatedMem", _as_text(value), "Name")
    elif key.field in _CPU_FIELDS:
        if layout.engine_xml_text is not None:
            raise OvfEditError(
                "the OVF embeds the engine's libvirt XML (EngineXml), whose vCPU topology and "
                "NUMA layout the engine derives from this value; change it in the manager"
            )
        tag, after = _CPU_FIELDS[key.field]
        _set_text(layout.cpu, tag, _as_text(value), after)
    else:
        assert key.nic is not None
        item = _nic_item(layout, key.nic)
        new = _nic_value(key.field, value)
        if key.field == "network":
            _set_second_network_copy(item, new)
        _set_text(item, _NIC_FIELDS[key.field], new, RASD + "ResourceType")


def update_copies(root: Element, key: EditKey, before: OvfVm, after: OvfVm) -> None:
    """Bring the other copies of the edited value in line with the validated ``after``."""
    layout = locate(root)
    if key.field in _CPU_FIELDS:
        total = layout.cpu.find(RASD + "VirtualQuantity")
        if total is not None:
            total.text = str(after.vcpus)
    if layout.engine_xml is None or layout.engine_xml_text is None:
        return
    engine = EngineXml(layout.engine_xml_text)
    original = engine.text()
    if key.field == "memSize":
        engine.set_memory(after.mem_size_mib)
    elif key.field == "minAllocatedMem" and after.min_allocated_mem_mib is not None:
        engine.set_min_guaranteed_memory(after.min_allocated_mem_mib)
    elif key.nic is not None:
        old, new = before.nics[key.nic], after.nics[key.nic]
        if key.field == "macAddr":
            engine.set_nic_mac(old.mac, new.mac)
        elif key.field == "network" and new.network is not None:
            engine.set_nic_network(old.mac, old.network, new.network)
        elif key.field == "model" and new.model is not None:
            engine.set_nic_model(old.mac, new.model)
        elif key.field == "linkActive":
            engine.set_nic_link(old.mac, new.link_active)
    if engine.text() != original:  # do not re-render an XML the edit did not touch
        layout.engine_xml.text = engine.text()
