"""What a mono input does to the settings: it has no stereo image, so every bin's azimuth is 0.

The knobs that choose by direction (center, width, the delay axis, ml_spatial) then have
nothing to act on. They are set to hold the whole field (center 0, width 2, by level, no phase
test, ml_spatial off), so that the slice holds every bin and the bands, gains, refinements and edits act on the sound
as a whole. Settings that choose by direction alone (ml_prior 0: karaoke, vocal-lift, ...)
would then take the whole band: with the model installed, the ML prior chooses the slice
instead (ml_prior 1); without it the slice is everything inside the bands, and the note says so.
"""

from __future__ import annotations

from typing import Iterable

from ...dsp import params as P
from . import model

PINNED = {"center": 0.0, "width": 2.0, "phase_tolerance": 1.0, "direction_cue": 0.0,
          "delay_center_ms": 0.0, "ml_spatial": 0.0}   # the whole field, by level, no phase test

MONO = ("mono (one channel): the azimuth is 0 everywhere, so center, width and the other "
        "direction knobs have nothing to act on")


def settings(params: P.ParamSet, head: str = MONO) -> tuple[P.ParamSet, str]:
    """``params`` for a mono input, and the one line (``head``: why) that tells the user what
    changed."""
    ps = params.copy()
    ps.update(PINNED)
    if ps["ml_prior"] > 0:
        return ps, f"{head}; the ML prior chooses the slice"
    if model.model_path().exists():
        ps.update({"ml_prior": 1.0})
        return ps, f"{head}; the ML prior chooses the slice instead (ml_prior 1)"
    return ps, (f"{head}; the slice is all of the sound inside its bands (install the ML prior, "
                "'panslice model install', to separate a mono file)")


def changes(stamped: Iterable[P.Change]) -> list[P.Change]:
    """Stamped changes without those to the pinned knobs (they would move an empty slice)."""
    return [c for c in stamped if c[1] not in PINNED]


def chain_note() -> str:
    """The line for a chain (its stages run as written: their ML priors are set up already)."""
    return ("mono (one channel): the azimuth is 0 everywhere, so the stages' center, width and "
            "other direction knobs have nothing to act on; give a stage ml_prior 1 to separate it")
