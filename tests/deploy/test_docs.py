"""docs/deploy.md names every answer key (oVirt never documented its answer file)."""

from __future__ import annotations

import re
from pathlib import Path

from hosted_engine.deploy import keys, setup_keys
from hosted_engine.installer import Key

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def declared() -> set[str]:
    names = set()
    for module in (keys, setup_keys):
        names |= {v.name for v in vars(module).values() if isinstance(v, Key)}
    return names


def test_every_declared_key_is_in_the_docs() -> None:
    documented = set(re.findall(r"`([A-Z_]+/[A-Za-z0-9_]+)`", DOC.read_text()))
    assert len(declared()) > 40  # the scan found the keys
    assert sorted(declared() - documented) == []
