"""Fixtures for the installer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Installer


@pytest.fixture
def installer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Installer:
    """Runs the installer in this process, with its root and log in ``tmp_path``."""
    return Installer(tmp_path, capsys)
