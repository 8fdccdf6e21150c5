"""The engine VM's OVF: parse it safely, read it as a typed VM, edit it without losses.

In oVirt the engine writes the engine VM's definition as an OVF into the OVF_STORE; the
HA agent turns it into VDSM parameters (ha-anchor §6). ``parse_ovf`` refuses hostile or
absurd documents with a one-line :class:`~hosted_engine.errors.OvfError`;
``OvfDocument.set`` edits one value and leaves every other byte of meaning as the engine
wrote it; ``ovf_from_definition`` makes a first OVF out of a legacy ``vm.conf``.
"""

from hosted_engine.vm.ovf.document import OvfDocument, parse_ovf
from hosted_engine.vm.ovf.editing import EDITABLE_KEYS, EditValue
from hosted_engine.vm.ovf.model import (
    NIC_MODELS,
    OvfDevice,
    OvfDisk,
    OvfNic,
    OvfVm,
)
from hosted_engine.vm.ovf.safe_xml import MAX_XML_BYTES
from hosted_engine.vm.ovf.writer import ovf_from_definition

__all__ = [
    "EDITABLE_KEYS",
    "MAX_XML_BYTES",
    "NIC_MODELS",
    "EditValue",
    "OvfDevice",
    "OvfDisk",
    "OvfDocument",
    "OvfNic",
    "OvfVm",
    "ovf_from_definition",
    "parse_ovf",
]
