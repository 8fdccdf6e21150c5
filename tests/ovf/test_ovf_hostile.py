"""Hostile and absurd OVFs are refused with one line that says why, and nothing is read.

Each case is a real reference file with one thing broken, so the refusal can only come
from that one thing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ovf_helpers import OVF_36, OVF_42, load

from hosted_engine.errors import OvfError
from hosted_engine.vm.ovf import MAX_XML_BYTES, parse_ovf

OVF_NS = 'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1/"'


def refused(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(OvfError) as caught:
        parse_ovf(raw)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert message.startswith("OVF")
    return message


def broken(old: str, new: str, name: str = OVF_36) -> str:
    data = load(name).decode()
    assert old in data, old
    return data.replace(old, new, 1)


# --- entity and DTD attacks ---------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<lolz>&lol9;</lolz>"
)


def test_billion_laughs() -> None:
    start = time.monotonic()
    assert "DOCTYPE" in refused(BILLION_LAUGHS)
    assert time.monotonic() - start < 1


def test_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        data = broken("<Name>HostedEngine</Name>", "<Name>&xxe;</Name>").replace(
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "{target}">]>',
        )
        message = refused(data)
        assert "TOP-SECRET" not in message and "root:" not in message


def test_dtd_in_utf16_is_refused_after_parsing(tmp_path: Path) -> None:
    """UTF-16 hides the DOCTYPE from the byte scan; the parsed document still shows it."""
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "LEAKED">')
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    for doctype in (
        f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]>',
        f'<!DOCTYPE x SYSTEM "{dtd.as_uri()}">',
    ):
        utf16 = broken(declaration, '<?xml version="1.0" encoding="UTF-16"?>' + doctype)
        message = refused(utf16.encode("utf-16"))
        assert "DOCTYPE" in message and "LEAKED" not in message
    # without the DOCTYPE the same UTF-16 document is a valid OVF
    plain = broken(declaration, '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    doc = parse_ovf(plain)
    assert parse_ovf(doc.to_bytes()).vm == doc.vm and doc.vm.name == "HostedEngine"
    assert parse_ovf(broken(declaration, "").encode()).to_bytes().startswith(b"<ovf:Envelope")


def test_a_plain_doctype_is_refused() -> None:
    data = broken('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE e>')
    assert "DOCTYPE" in refused(data)


def test_an_entity_reference_without_declaration_is_malformed() -> None:
    assert "not well-formed" in refused(broken("<Name>HostedEngine", "<Name>&amp;&nbsp;"))


# --- not XML, too big, too deep -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        load(OVF_36)[:5000],  # truncated
        load(OVF_36).replace(b"</Content>", b"</Contents>"),
        load(OVF_36).replace(b"<Name>", b"<Name attr=>"),
        b"\x00\x01\x02\xff",
    ],
    ids=["empty", "text", "truncated", "mismatched-tag", "bad-attribute", "binary"],
)
def test_malformed(data: bytes) -> None:
    assert "not well-formed XML" in refused(data)


def test_oversize_is_refused_before_parsing() -> None:
    data = load(OVF_36).replace(
        b"<TimeZone/>", b"<TimeZone>" + b"x" * MAX_XML_BYTES + b"</TimeZone>"
    )
    assert "byte limit" in refused(data)


def test_deep_nesting() -> None:
    data = broken("<TimeZone/>", "<a>" * 1000 + "</a>" * 1000)
    assert "depth" in refused(data)


def test_huge_number_of_digits() -> None:
    data = broken("<rasd:VirtualQuantity>4096", "<rasd:VirtualQuantity>" + "9" * 5000)
    assert "rasd:VirtualQuantity" in refused(data)


# --- wrong document ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("<Envelope/>", "not an oVirt ovf:Envelope"),
        ('<a:Envelope xmlns:a="http://example.com/ovf"/>', "not an oVirt ovf:Envelope"),
        (
            broken("<ovf:Envelope ", "<ovf:Wrapper ").replace("</ovf:Envelope>", "</ovf:Wrapper>"),
            "not an oVirt",
        ),
        (broken("<Content ", "<Contents ").replace("</Content>", "</Contents>"), "no Content"),
        (broken("OperatingSystemSection_Type", "OtherSection_Type"), "no OperatingSystemSection"),
        (broken("VirtualHardwareSection_Type", "OtherSection_Type"), "no VirtualHardwareSection"),
        (broken("<rasd:ResourceType>3<", "<rasd:ResourceType>33<"), "no CPU Item"),
        (broken("<rasd:ResourceType>4<", "<rasd:ResourceType>44<"), "no memory Item"),
        (broken("<Name>HostedEngine</Name>", ""), "no Name"),
        (
            broken('ovf:id="50e59bbd-f829-4761-ba1b-6db1a6acc3b8" ', ""),
            "OperatingSystemSection ovf:id",
        ),
        (broken("<rasd:num_of_sockets>1</rasd:num_of_sockets>", ""), "rasd:num_of_sockets"),
    ],
    ids=[
        "no-namespace",
        "other-namespace",
        "wrong-root",
        "no-content",
        "no-os-section",
        "no-hardware",
        "no-cpu",
        "no-memory",
        "no-name",
        "no-vm-id",
        "no-sockets",
    ],
)
def test_wrong_or_incomplete_document(data: str, reason: str) -> None:
    assert reason in refused(data)


# --- absurd values ------------------------------------------------------------------------------

MEMORY = "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>"
SOCKETS = "<rasd:num_of_sockets>1</rasd:num_of_sockets>"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            MEMORY,
            "<rasd:VirtualQuantity>0</rasd:VirtualQuantity>",
            "memory Item rasd:VirtualQuantity",
        ),
        (
            MEMORY,
            f"<rasd:VirtualQuantity>{16 * 2**20 + 1}</rasd:VirtualQuantity>",
            "between 1 and 16777216",
        ),
        (MEMORY, "<rasd:VirtualQuantity>-1</rasd:VirtualQuantity>", "whole number"),
        (MEMORY, "<rasd:VirtualQuantity>4 GB</rasd:VirtualQuantity>", "whole number"),
        (MEMORY, "<rasd:VirtualQuantity>4096.0</rasd:VirtualQuantity>", "whole number"),
        (SOCKETS, "<rasd:num_of_sockets>4097</rasd:num_of_sockets>", "rasd:num_of_sockets"),
        (SOCKETS, "<rasd:num_of_sockets>0</rasd:num_of_sockets>", "rasd:num_of_sockets"),
        (SOCKETS, "<rasd:num_of_sockets>many</rasd:num_of_sockets>", "rasd:num_of_sockets"),
        ("<rasd:cpu_per_socket>1<", "<rasd:cpu_per_socket>-2<", "rasd:cpu_per_socket"),
        ("<MinAllocatedMem>4096<", "<MinAllocatedMem>8192<", "MinAllocatedMem (8192 MiB) is more"),
        ("<MinAllocatedMem>4096<", "<MinAllocatedMem>x<", "MinAllocatedMem"),
        ("<DefaultDisplayType>0<", "<DefaultDisplayType>-1<", "DefaultDisplayType"),
        ("<rasd:MACAddress>00:16:3e:43:ed:b5<", "<rasd:MACAddress>00:16:3e:43:ed<", "MAC address"),
        ("<rasd:MACAddress>00:16:3e:43:ed:b6<", "<rasd:MACAddress>00:16:3e:43:ed:b5<", "same MAC"),
        ("<rasd:ResourceSubType>3<", "<rasd:ResourceSubType>9<", "rasd:ResourceSubType"),
        ("<rasd:Linked>true<", "<rasd:Linked>yes<", "rasd:Linked"),
        ("<BootOrder>1<", "<BootOrder>-1<", "BootOrder"),
        ('ovf:fileRef="1b52d184-a370-48a7-8335-a4755b01ec0a/', 'ovf:fileRef="', "ovf:fileRef"),
        ('ovf:id="50e59bbd-f829-4761-ba1b-6db1a6acc3b8"', 'ovf:id="../../etc"', "ovf:id"),
    ],
)
def test_absurd_values(old: str, new: str, reason: str) -> None:
    assert reason in refused(broken(old, new))


def test_absurd_values_in_a_42_file() -> None:
    assert "MaxMemorySizeMb" in refused(
        broken("<MaxMemorySizeMb>65536<", "<MaxMemorySizeMb>1024<", OVF_42)
    )
    vcpus = "<rasd:max_num_of_vcpus>16<"
    assert "over the rasd:max_num_of_vcpus (8)" in refused(
        broken(vcpus, "<rasd:max_num_of_vcpus>8<", OVF_42)
    )


def test_hostile_engine_xml_is_refused() -> None:
    inner = '&lt;!DOCTYPE d [&lt;!ENTITY x SYSTEM "file:///etc/passwd"&gt;]&gt;&lt;domain'
    data = broken('&lt;domain type="kvm"', inner + ' type="kvm"', OVF_42)
    assert refused(data).startswith("OVF EngineXml: a DOCTYPE")
    assert "OVF EngineXml: not well-formed" in refused(broken("&lt;/domain&gt;", "", OVF_42))
    wrong_root = broken("&lt;domain ", "&lt;other ", OVF_42).replace("/domain&gt;", "/other&gt;")
    assert "not domain" in refused(wrong_root)
