# mypy: disable-error-code="arg-type, call-arg"
"""The simulated market: deterministic for a seed, invariants hold, every
phase happens, bad sizes are refused."""

from __future__ import annotations

import pytest

import kabuken as k
from kabuken import errors as E


def test_run_is_deterministic_and_sound() -> None:
    a = k.Simulation(seed=3, investors=6, instruments=2, orders_hint=2000)
    b = k.Simulation(seed=3, investors=6, instruments=2, orders_hint=2000)
    counts = a.run(600)
    for _ in range(600):
        b.step()
    assert sum(counts.values()) == 600 and counts.get("order", 0) > 0 and counts.get("attack", 0) > 0
    assert a.state_hash() == b.state_hash() and len(a.state_hash()) == 32
    assert a.now == b.now > 600 - 1
    a.check_invariants()
    st = a.stats()
    assert st["attacks"] > 0 and st["attacks_accepted"] == 0 and st["register_errors"] == 0
    ex = a.exchange_stats()
    assert ex["orders"] == st["orders"] and ex["anomalies"] == []
    assert sum(a.refusals().values()) > 0
    ms = a.matches()
    assert ms and all(m.quantity > 0 for m in ms)
    assert a.instruments() == [100, 101] and len(a.investor_ids()) == 6
    md = a.market_data(100)
    assert md is not None and md.volume > 0 and a.market_data(5) is None
    wallet = [c for u in a.investor_ids() for c in a.wallet(u, 100)]
    assert wallet and all(isinstance(c, k.Certificate) for c in wallet)
    assert "Simulation(" in repr(a)
    c = k.Simulation(seed=4, investors=6, instruments=2)
    c.run(600)
    assert c.state_hash() != a.state_hash()


def test_with_out_of_band_verification() -> None:
    s = k.Simulation(seed=5, investors=8, instruments=1)
    assert s.oob_alarms() is None
    assert s.enable_oob(2) == 4
    s.run(400)
    alarms = s.oob_alarms()
    assert alarms is not None and all(x >= 0 for x in alarms)
    s.check_invariants()


def test_bad_sizes() -> None:
    for kw in (dict(investors=1), dict(instruments=0), dict(investors=10**6), dict(investors=2000, instruments=600)):
        with pytest.raises(ValueError):
            k.Simulation(**kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        k.Simulation(investors=2, instruments=1, cash=0)
    with pytest.raises(ValueError):
        k.Simulation(investors=2, instruments=1, usage_limit=1)
    with pytest.raises(OverflowError):
        k.Simulation(seed=-1)
    s = k.Simulation(investors=2, instruments=1)
    with pytest.raises(ValueError):
        s.enable_oob(0)
    with pytest.raises(TypeError):
        s.run("10")
    assert isinstance(E.InvariantViolation("m", []), E.ExchangeError)
