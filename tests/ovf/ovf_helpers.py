"""Shared helpers for the OVF tests: the reference files and an element-level XML diff.

The diff is independent of the code under test: it parses with plain lxml and compares
each element's own attributes, text and tail, pairing children by tag and occurrence so
that an inserted element shows up as one addition rather than shifting everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

DATA = Path(__file__).parent / "data"
OVF_36 = "ovf_test.xml"
OVF_MAX_VCPU = "ovf_test_max_vcpu.xml"
OVF_42 = "ovf_test_v4.2.xml"
OVF_42_UNSAFE = "ovf_test_v4.2_unsafe.xml"
REFERENCE_FILES = (OVF_36, OVF_MAX_VCPU, OVF_42, OVF_42_UNSAFE)
WITH_ENGINE_XML = (OVF_42, OVF_42_UNSAFE)

PREFIXES = {
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData": "rasd",
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData": "vssd",
    "http://schemas.dmtf.org/ovf/envelope/1/": "ovf",
    "http://schemas.dmtf.org/ovf/envelope/1": "ovf",
    "http://ovirt.org/vm/1.0": "ovirt-vm",
}
XPATH_NS = {
    "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "ovirt-vm": "http://ovirt.org/vm/1.0",
}


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def root_of(data: bytes | str) -> etree._Element:
    raw = data.encode() if isinstance(data, str) else data
    return etree.fromstring(raw, etree.XMLParser(resolve_entities=False))


def engine_xml_root(data: bytes) -> etree._Element:
    """The EngineXml embedded in an OVF, parsed (declaration dropped)."""
    text = root_of(data).findtext("Content/EngineXml") or ""
    return root_of(text[text.index("?>") + 2 :] if text.startswith("<?xml") else text)


def _name(tag: str) -> str:
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}")
        return f"{PREFIXES.get(namespace, namespace)}:{local}"
    return tag


def _children(element: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    seen: Counter[str] = Counter()
    for child in element:
        if isinstance(child.tag, str):
            name = _name(child.tag)
            yield f"{name}[{seen[name]}]", child
            seen[name] += 1


def path_of(element: etree._Element) -> str:
    """The path ``changed_elements`` reports for ``element``."""
    steps = []
    while element.getparent() is not None:
        parent = element.getparent()
        assert parent is not None
        steps.append(next(key for key, child in _children(parent) if child is element))
        element = parent
    return "/" + "/".join(reversed(steps))


def changed_elements(before: etree._Element, after: etree._Element) -> set[str]:
    """Paths of elements whose attributes, text or tail differ, or that were added/removed."""
    changes: set[str] = set()

    def walk(a: etree._Element, b: etree._Element, path: str) -> None:
        if sorted(a.items()) != sorted(b.items()) or (a.text, a.tail) != (b.text, b.tail):
            changes.add(path or "/")
        kids_a = {key: child for key, child in _children(a)}
        kids_b = {key: child for key, child in _children(b)}
        for key in kids_a.keys() | kids_b.keys():
            if key in kids_a and key in kids_b:
                walk(kids_a[key], kids_b[key], f"{path}/{key}")
            else:
                changes.add(f"{path}/{key}")

    walk(before, after, "")
    return changes


def select_optional(root: etree._Element, xpath: str) -> set[str]:
    """Paths of the elements an XPath (with rasd: and ovirt-vm: prefixes) selects."""
    found = root.xpath(xpath, namespaces=XPATH_NS)
    assert isinstance(found, list)
    return {path_of(element) for element in found if isinstance(element, etree._Element)}


def select(root: etree._Element, xpath: str) -> set[str]:
    """Like ``select_optional``, for elements that must exist."""
    paths = select_optional(root, xpath)
    assert paths, f"{xpath} selects nothing"
    return paths
