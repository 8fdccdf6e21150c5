"""Every number in an OVF is ASCII digits and nothing else, and within a sane range.

Python's int() also takes '+4096', ' 4096 ', '4_096' and any Unicode digits (Arabic-Indic,
full-width), and re's \\d matches the latter: an OVF holding such a value is refused.
"""

from __future__ import annotations

import pytest
from ovf_helpers import OVF_36, load

from hosted_engine.errors import OvfEditError, OvfError
from hosted_engine.vm.ovf import parse_ovf
from hosted_engine.vm.ovf.model import MAX_MEMORY_MIB, MAX_VCPUS

NOT_ASCII_DIGITS = [
    "\u0664\u0660\u0669\u0666",  # Arabic-Indic 4096
    "\uff14\uff10\uff19\uff16",  # full-width 4096
    "\u096a\u0966\u096f\u096c",  # Devanagari 4096
    "+4096",
    "-4096",
    " 4096 ",
    "4096\n",
    "\n4096",
    "4_096",
    "4096.0",
    "1e3",
    "0x10",
    "4,096",
    " ",
]

# (element as it is in the reference file, how to write another value into it)
ELEMENTS = {
    "memory": ("<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>", "rasd:VirtualQuantity"),
    "min-memory": ("<MinAllocatedMem>4096</MinAllocatedMem>", "MinAllocatedMem"),
    "sockets": ("<rasd:num_of_sockets>1</rasd:num_of_sockets>", "rasd:num_of_sockets"),
    "cores": ("<rasd:cpu_per_socket>1</rasd:cpu_per_socket>", "rasd:cpu_per_socket"),
    "display": ("<DefaultDisplayType>0</DefaultDisplayType>", "DefaultDisplayType"),
    "boot-order": ("<BootOrder>1</BootOrder>", "BootOrder"),
    "nic-model": ("<rasd:ResourceSubType>3</rasd:ResourceSubType>", "rasd:ResourceSubType"),
}


def with_value(element: str, value: str) -> bytes:
    original, tag = ELEMENTS[element]
    data = load(OVF_36).decode()
    assert original in data
    return data.replace(original, f"<{tag}>{value}</{tag}>", 1).encode()


def refused(data: bytes) -> str:
    with pytest.raises(OvfError) as caught:
        parse_ovf(data)
    message = str(caught.value)
    assert message.startswith("OVF") and "\n" not in message and len(message) < 300, message
    return message


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS, ids=ascii)
@pytest.mark.parametrize("element", ELEMENTS)
def test_a_number_that_is_not_ascii_digits_is_refused(element: str, value: str) -> None:
    assert "must be a whole number" in refused(with_value(element, value))


def test_the_reference_values_still_read() -> None:
    vm = parse_ovf(load(OVF_36)).vm
    assert (vm.mem_size_mib, vm.sockets, vm.cores_per_socket) == (4096, 1, 1)


@pytest.mark.parametrize(
    ("element", "value", "message"),
    [
        ("memory", str(MAX_MEMORY_MIB + 1), f"between 1 and {MAX_MEMORY_MIB}"),
        ("memory", "0", "between 1 and"),
        ("memory", "9" * 13, "must be a whole number"),
        ("sockets", str(MAX_VCPUS + 1), f"between 1 and {MAX_VCPUS}"),
        ("cores", "100000", f"between 1 and {MAX_VCPUS}"),
    ],
)
def test_absurd_values_are_refused(element: str, value: str, message: str) -> None:
    assert message in refused(with_value(element, value))


@pytest.mark.parametrize("value", ["\u0664\u0660\u0669\u0666", "\uff12\uff10\uff14\uff18", "1e3"])
def test_an_edit_to_a_number_that_is_not_ascii_digits_is_refused(value: str) -> None:
    document = parse_ovf(load(OVF_36))
    with pytest.raises(OvfEditError, match="must be a whole number"):
        document.set("memSize", value)
    assert document.vm.mem_size_mib == 4096
