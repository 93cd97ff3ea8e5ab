"""Two minutes of a live session under stress (benchmarks/soak.py, issue 18 item 11): every
output sample finite, memory bounded, no queue growing. Times are reported, never asserted."""

from __future__ import annotations

import pytest

from benchmarks import soak


@pytest.mark.slow
def test_two_minutes_under_stress_stay_finite_and_flat():
    minutes, counts = soak.soak(2.0, window_s=30.0)
    assert counts["knobs"] > 100 and counts["presets"] and counts["edits"] and counts["subscriptions"]
    assert sum(m.blocks for m in minutes) > 0
    assert soak.verdict(minutes) == []
