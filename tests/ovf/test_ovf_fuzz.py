"""The OVF parser on mutated reference OVFs: a document that describes a VM, or one
OvfError line, never a traceback; and a value that parses is always a sane one."""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from ovf_helpers import REFERENCE_FILES, load, root_of

from hosted_engine.errors import HostedEngineError, OvfError
from hosted_engine.vm.ovf import parse_ovf
from hosted_engine.vm.ovf.model import MAX_MEMORY_MIB, MAX_VCPUS

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCES = {name: load(name) for name in REFERENCE_FILES}

# texts an element may be given: numbers in every form int() takes, and junk
TEXTS = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.sampled_from(
        ["", " ", "+1", "1_0", "1.0", "1e3", "\u0664", "\uff14", "0x1", "true", "\n", "-0"]
    ),
    st.text(max_size=20),
)


# numbers the reader always reads, wherever they are in the tree
NUMBER_TAGS = frozenset(
    {
        "num_of_sockets",
        "cpu_per_socket",
        "threads_per_cpu",
        "max_num_of_vcpus",
        "MinAllocatedMem",
        "MaxMemorySizeMb",
    }
)


def check(data: bytes) -> bool:
    """Whether the OVF was accepted."""
    try:
        document = parse_ovf(data)
    except OvfError as e:
        message = str(e)
        assert "\n" not in message and len(message) < 400, message
        return False
    vm = document.vm
    assert 1 <= vm.mem_size_mib <= MAX_MEMORY_MIB
    assert 1 <= vm.vcpus <= MAX_VCPUS
    try:
        document.to_definition()
    except HostedEngineError as e:
        assert "\n" not in str(e)
    return True


@FUZZ
@given(st.sampled_from(sorted(SOURCES)), st.randoms(use_true_random=False), TEXTS)
def test_one_element_gets_another_text(name: str, rng: random.Random, text: str) -> None:
    root = root_of(SOURCES[name])
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = rng.choice(elements)
    target.text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
    accepted = check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    local = etree.QName(target).localname
    if accepted and local in NUMBER_TAGS and target.text:
        assert re.fullmatch("[0-9]+", target.text), (local, target.text)


@FUZZ
@given(st.sampled_from(sorted(SOURCES)), st.randoms(use_true_random=False))
def test_one_element_is_removed_or_doubled(name: str, rng: random.Random) -> None:
    root = root_of(SOURCES[name])
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e.getparent() is not None]
    target = rng.choice(elements)
    parent = target.getparent()
    assert parent is not None
    if rng.random() < 0.5:
        parent.remove(target)
    else:
        target.addnext(etree.fromstring(etree.tostring(target)))
    check(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@FUZZ
@given(
    st.sampled_from(sorted(SOURCES)),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.integers(min_value=0, max_value=64),
    st.binary(max_size=16),
)
def test_bytes_are_cut_or_spliced(name: str, where: float, cut: int, insert: bytes) -> None:
    data = SOURCES[name]
    at = int(where * len(data))
    check(data[:at] + insert + data[at + cut :])
