"""Shared fixtures: the shared test data folder (`$KABUKEN_SHARED` or
`../shared` beside the repository); tests that need it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    d = Path(os.environ.get("KABUKEN_SHARED", REPO.parent / "shared"))
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("shared test data not found (set KABUKEN_SHARED)")
    return d


@pytest.fixture(scope="session")
def flash_dir(shared: Path) -> Path:
    d = shared / "conformance" / "flash"
    if not d.is_dir():
        pytest.skip("Flash conformance set not found")
    return d


@pytest.fixture(scope="session")
def lobster_dir(shared: Path) -> Path:
    d = shared / "data" / "lobster"
    if not d.is_dir():
        pytest.skip("LOBSTER data not found")
    return d
