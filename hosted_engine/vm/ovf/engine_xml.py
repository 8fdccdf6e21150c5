"""The libvirt domain XML a 4.2+ engine embeds in the OVF (``EngineXml``).

When it also carries the VM lease, VDSM starts the VM from this XML rather than from the
OVF fields (§6), so an edit of the OVF that left it behind would silently not take
effect. Edits therefore update the copy of the value held here when that copy is plain
(memory, guaranteed memory, a NIC's MAC, bridge, model and link state) and are refused
when the engine derives it (the vCPU topology: ``<vcpu>``, ``<topology>``, NUMA cpus).
"""

from __future__ import annotations

import re

from lxml import etree

from hosted_engine.errors import OvfEditError, OvfError
from hosted_engine.vm.ovf.safe_xml import parse_untrusted, shown

OVIRT_VM = "{http://ovirt.org/vm/1.0}"
# VDSM before bz1560666 was fixed broke on longer console aliases; the reference cut them.
CONSOLE_ALIAS_MAX = 24
# How libvirt names the NIC models the engine can express in this XML.
LIBVIRT_NIC_MODELS = {"pv": "virtio", "e1000": "e1000", "rtl8139": "rtl8139"}

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class EngineXml:
    """A parsed copy of the EngineXml text; ``text()`` renders it back."""

    def __init__(self, source: str) -> None:
        match = _DECLARATION.match(source)
        self._declaration = match.group(0) if match else ""
        body = source[match.end() :] if match else source
        self.root = parse_untrusted(body.encode("utf-8"), "OVF EngineXml").getroot()
        if self.root.tag != "domain":
            raise OvfError(f"OVF EngineXml: the root element is {shown(self.root.tag)}, not domain")

    def text(self) -> str:
        return self._declaration + etree.tostring(self.root, encoding="unicode")

    @property
    def has_lease(self) -> bool:
        return self.root.find("devices/lease") is not None

    @property
    def has_exclusive_disk(self) -> bool:
        return any(
            (device.findtext(OVIRT_VM + "shared") or "").strip() == "exclusive"
            for device in self.root.iterfind(f"metadata/{OVIRT_VM}vm/{OVIRT_VM}device")
            if device.get("devtype") == "disk"
        )

    def for_vdsm(self) -> str:
        """The XML as the reference hands it to VDSM: console pty aliases cut short."""
        vdsm = EngineXml(self.text())
        for alias in vdsm.root.iterfind("devices/console[@type='pty']/alias"):
            alias.set("name", alias.get("name", "")[:CONSOLE_ALIAS_MAX])
        return vdsm.text()

    # --- edits: each mirrors one OVF value, or refuses ---------------------------------------

    def set_memory(self, mib: int) -> None:
        kib = str(mib * 1024)
        for tag in ("memory", "currentMemory"):
            element = self.root.find(tag)
            if element is not None:
                if element.get("unit", "KiB") not in ("KiB", "k"):
                    raise OvfEditError(f"EngineXml <{tag}> is not in KiB; edit it in the manager")
                element.text = kib
        cells = self.root.findall("cpu/numa/cell")
        if len(cells) > 1:
            raise OvfEditError(
                "EngineXml splits memory over several NUMA cells; edit it in the manager"
            )
        for cell in cells:
            cell.set("memory", kib)

    def set_min_guaranteed_memory(self, mib: int) -> None:
        for element in self.root.iterfind(f"metadata/{OVIRT_VM}vm/minGuaranteedMemoryMb"):
            element.text = str(mib)

    def set_nic_mac(self, old_mac: str, new_mac: str) -> None:
        interface = self._interface(old_mac)
        if interface is not None:
            _child(interface, "mac").set("address", new_mac)
        for device in self.root.iterfind(f"metadata/{OVIRT_VM}vm/{OVIRT_VM}device"):
            if (device.get("mac_address") or "").lower() == old_mac.lower():
                device.set("mac_address", new_mac)

    def set_nic_network(self, mac: str, old_network: str | None, network: str) -> None:
        interface = self._interface(mac)
        if interface is None:
            return
        source = interface.find("source")
        bridge = source.get("bridge") if source is not None else None
        if interface.get("type") != "bridge" or source is None or bridge != old_network:
            raise OvfEditError(
                f"EngineXml attaches NIC {mac} to something other than the bridge "
                f"{shown(old_network)}; edit it in the manager"
            )
        source.set("bridge", network)

    def set_nic_model(self, mac: str, model: str) -> None:
        interface = self._interface(mac)
        if interface is None:
            return
        if model not in LIBVIRT_NIC_MODELS:
            raise OvfEditError(
                f"NIC model {model} cannot be written into the EngineXml; edit it in the manager"
            )
        _child(interface, "model").set("type", LIBVIRT_NIC_MODELS[model])

    def set_nic_link(self, mac: str, active: bool) -> None:
        interface = self._interface(mac)
        if interface is not None:
            _child(interface, "link").set("state", "up" if active else "down")

    def _interface(self, mac: str) -> etree._Element | None:
        for element in self.root.iterfind("devices/interface/mac"):
            if (element.get("address") or "").lower() == mac.lower():
                return element.getparent()
        return None


def _child(parent: etree._Element, tag: str) -> etree._Element:
    child = parent.find(tag)
    return child if child is not None else etree.SubElement(parent, tag)
