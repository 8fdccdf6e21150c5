"""Where things are in an oVirt OVF: one place that knows the engine's document layout.

The engine writes ``Section``, ``Content``, ``Item``, ``Type``... without a namespace and
puts ``ovf:`` only on attributes, ``rasd:`` on Item fields and ``xsi:type`` on sections.
The ``ovf:`` namespace itself varies (4.2 engines dropped the trailing slash), so it is
taken from the root element rather than assumed. The reader and the editor both locate
elements through :func:`locate`, so they can never disagree on which element holds what.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from hosted_engine.errors import OvfError
from hosted_engine.vm.ovf.safe_xml import shown

OVF_NAMESPACES = (
    "http://schemas.dmtf.org/ovf/envelope/1/",
    "http://schemas.dmtf.org/ovf/envelope/1",
)
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
RASD = "{" + RASD_NS + "}"
XSI_TYPE = "{" + XSI_NS + "}type"

CPU_RESOURCE = "3"
MEMORY_RESOURCE = "4"

Element = etree._Element


def text(parent: Element, tag: str) -> str | None:
    """The stripped text of ``parent``'s first ``tag`` child; None when absent or empty."""
    child = parent.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _section(parent: Element, type_name: str) -> Element | None:
    for section in parent.iterchildren("Section"):
        if section.get(XSI_TYPE, "").rpartition(":")[2] == type_name:
            return section
    return None


def _resource(items: list[Element], resource_type: str) -> Element | None:
    return next((i for i in items if text(i, RASD + "ResourceType") == resource_type), None)


@dataclass(frozen=True)
class OvfLayout:
    ovf: str  # "{namespace}" of this document's ovf: attributes
    content: Element
    os_section: Element
    cpu: Element  # the hardware Item with ResourceType 3
    memory: Element  # the hardware Item with ResourceType 4
    devices: tuple[Element, ...]  # the hardware Items that have a Type
    disks_by_id: dict[str, Element]  # DiskSection Disk elements by ovf:diskId
    engine_xml: Element | None

    @property
    def engine_xml_text(self) -> str | None:
        """The EngineXml text; None when the element is absent or blank (3.6 engines)."""
        if self.engine_xml is None or not (self.engine_xml.text or "").strip():
            return None
        return self.engine_xml.text

    def nic_items(self) -> list[Element]:
        """The NICs that ``nic<N>`` keys number: interface Items with a MAC, in order."""
        return [
            item
            for item in self.devices
            if text(item, "Type") == "interface" and text(item, RASD + "MACAddress") is not None
        ]


def locate(root: Element) -> OvfLayout:
    namespace, _, local = str(root.tag)[1:].partition("}")
    if local != "Envelope" or namespace not in OVF_NAMESPACES:
        raise OvfError(f"OVF: the root element is {shown(root.tag)}, not an oVirt ovf:Envelope")
    ovf = "{" + namespace + "}"
    content = root.find("Content")
    if content is None:
        raise OvfError("OVF: there is no Content element")
    os_section = _section(content, "OperatingSystemSection_Type")
    if os_section is None:
        raise OvfError("OVF: Content has no OperatingSystemSection")
    hardware = _section(content, "VirtualHardwareSection_Type")
    if hardware is None:
        raise OvfError("OVF: Content has no VirtualHardwareSection")
    items = list(hardware.iterchildren("Item"))
    cpu = _resource(items, CPU_RESOURCE)
    if cpu is None:
        raise OvfError("OVF: VirtualHardwareSection has no CPU Item (rasd:ResourceType 3)")
    memory = _resource(items, MEMORY_RESOURCE)
    if memory is None:
        raise OvfError("OVF: VirtualHardwareSection has no memory Item (rasd:ResourceType 4)")
    disks = {
        disk_id: disk
        for disk in root.iterfind("*/Disk")
        if (disk_id := disk.get(ovf + "diskId")) is not None
    }
    return OvfLayout(
        ovf=ovf,
        content=content,
        os_section=os_section,
        cpu=cpu,
        memory=memory,
        devices=tuple(item for item in items if text(item, "Type") is not None),
        disks_by_id=disks,
        engine_xml=content.find("EngineXml"),
    )
