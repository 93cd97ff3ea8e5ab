"""Knob values at the edge of the floats (5e-324, the smallest denormal) are legal and must not
divide by zero: one OSC message of that size used to end a live session (issue 18, defect 1)."""

import numpy as np
import pytest

from conftest import noise
from panslice.dsp import Engine

SR = 44100
TINY = 5e-324


@pytest.mark.parametrize("name", ["smooth_ms", "ambience_ms", "phase_tolerance", "width",
                                  "softness", "smooth_hz", "percussion_reject"])
def test_a_denormal_knob_processes_like_zero(name):
    x = noise(3 * 2048, seed=4)
    tiny = Engine({name: TINY, "smooth_hz": 20.0}).prepare(SR, 2048).process(x)
    zero = Engine({name: 0.0, "smooth_hz": 20.0}).prepare(SR, 2048).process(x)
    assert np.all(np.isfinite(tiny))
    if name in ("smooth_ms", "ambience_ms"):
        assert np.array_equal(tiny, zero)


def test_a_denormal_knob_set_while_running():
    eng = Engine({"smooth_hz": 20.0}).prepare(SR, 512)
    x = noise(20 * 512, seed=5)
    for i in range(20):
        if i == 3:
            eng.set("smooth_ms", TINY)
            eng.set("ambience_ms", TINY)
        out = eng.process(np.ascontiguousarray(x[:, i * 512:(i + 1) * 512]))
        assert np.all(np.isfinite(out))
