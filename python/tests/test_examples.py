"""The runnable Python examples that need no data files."""

from __future__ import annotations

import runpy

import pytest

from conftest import REPO


def test_signed_market_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        runpy.run_path(str(REPO / "examples" / "python" / "signed_market.py"), run_name="__main__")
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert "Bob holds 300, Alice keeps 700 as change" in out
    assert "refused: insufficient_certificates (code 18)" in out and "invariants hold" in out
