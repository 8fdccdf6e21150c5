"""Parsing XML that arrives from shared storage, which any host or a broken engine can write.

The OVF and the libvirt XML inside it are untrusted input to a root daemon, so nothing in
them may make the parser read files, reach the network or expand entities. There is no
legitimate DOCTYPE in either document, so any DTD is refused outright rather than defused:
first by a byte scan before parsing, then, for encodings that scan cannot see into, by
checking the parsed document. The parser itself resolves no entity, loads no DTD, has
no network and keeps libxml2's depth and size limits (an strace of external entity,
parameter entity and SYSTEM DTD documents, UTF-8 and UTF-16, shows no file opened).
"""

from __future__ import annotations

from lxml import etree

from hosted_engine.errors import OvfError

MAX_XML_BYTES = 4 * 1024 * 1024
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
        strip_cdata=False,
    )


def _one_line(text: str, limit: int = 200) -> str:
    """Collapse a message to one short line, however many lines the parser produced."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def shown(value: object, limit: int = 40) -> str:
    """A value quoted for an error message, cut short: it may be megabytes of junk."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_untrusted(data: bytes, what: str) -> etree._ElementTree:
    """Parse ``data`` or raise OvfError with a one-line reason that starts with ``what``."""
    if len(data) > MAX_XML_BYTES:
        raise OvfError(f"{what}: {len(data)} bytes is over the {MAX_XML_BYTES} byte limit")
    if any(marker in data for marker in _DTD_MARKERS):
        raise OvfError(f"{what}: a DOCTYPE or ENTITY declaration is not allowed")
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except (etree.XMLSyntaxError, ValueError) as e:
        reason = e.msg if isinstance(e, etree.XMLSyntaxError) else str(e)
        raise OvfError(f"{what}: not well-formed XML: {_one_line(reason)}") from None
    if tree.docinfo.internalDTD is not None:  # any DOCTYPE, internal subset or not
        raise OvfError(f"{what}: a DOCTYPE or ENTITY declaration is not allowed")
    return tree
