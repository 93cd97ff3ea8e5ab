"""Competing slices for the sources found: each source's settings name the others as rivals.

A slice alone keeps every bin inside its window: bins between two talkers are kept by both
slices or by neither, and so are a room's reverberant bins, which sit off every direct path.
Competing (``rivals``, mask.compete_mask), each bin is shared among the sources by its distance
to each, in widths. The widths are one share (``WIDTH_SHARE``) of the nearest gap between two
sources on the axis that parts them, the same for every source, so that the shares of one bin
over all the stems add up to at most 1 and ``rest`` takes what is left.
"""

from __future__ import annotations

import numpy as np

from .mask import SPEED_OF_SOUND

# The width (the Gaussian's sigma) as a share of the nearest gap, and the refinement's time
# constant where delay places them. Chosen on the synthetic talkers of benchmarks/voices.py
# (16 kHz; anechoic 10 and 30 cm, RT60 0.3 s at 5 and 20 cm; at their true delays), mean
# lift: 0.4 and 20 ms +11.4 dB; 0.25 and 20 ms +11.4; 0.4 with no smoothing +10.9; 0.4 and
# 50 ms +11.4 (anechoic 0.7 dB lower). Smoothing across frequency (smooth_hz 16 to 100) lost
# 1 to 5 dB: neighbouring harmonics belong to different talkers. By level alone (synthetic
# talkers panned -0.6, 0, +0.6; no room to smear the cue), 0.4 with no smoothing +15.0, with
# 20 ms +14.7, 0.25 +14.8: level-only slices get no smoothing.
WIDTH_SHARE = 0.4
SMOOTH_MS = 20.0
# ... but a delay width no wider than this: far apart delays (the left and right talkers at mics
# 30 cm apart, 22 samples at 16 kHz) turn the phase alike again every 727 Hz, and a width of a
# share of their gap (9 samples) then no longer tells a bin's phase from the other's. Chosen on
# the synthetic talkers (16 kHz, at their true delays; three talkers in 8 rooms, and the left
# and right ones alone in 5), mean lift over no cap: 0.19 ms (3 samples) +0.24 dB, 0.156 ms
# +0.28, 0.125 ms +0.28 (two talkers at 30 cm: +2.5, +2.8, +3.1; at RT60 0.3 s and 30 cm:
# -1.3, -1.5, -1.7).
DELAY_WIDTH_MAX_MS = 0.15
# The level width, as a share of the nearest level gap, where level helps delay (parted's
# level_too). Chosen on the espeak-ng choose talkers of benchmarks/rivals_choose.py (16 kHz; not
# voices.py's), the mean of its anechoic and RT60 0.3 s columns: 1 +8.74 dB, 2 +8.85, 3 +8.80,
# none (delay alone) +8.70. Narrower gains most anechoic (1: +0.6 over 2) and loses most in the
# room (-0.5): its reflections blur a bin's level. Synthetic choose talkers, 2 over none: +0.36
# anechoic, +0.38 at RT60 0.3 s. The other constants, on the same table: WIDTH_SHARE 0.25 or
# 0.5, SMOOTH_MS 0, 10 or 40 and DELAY_WIDTH_MAX_MS 0.2 all lower; DELAY_WIDTH_MAX_MS 0.125
# +0.02 dB (kept).
LEVEL_TOO_SHARE = 2.0
# The spacing a slice assumes, over the one the farthest source's delay implies: above the
# aliasing frequency this halves, a bin's phase must agree with the slice's delay twice as
# closely. Measured on three talkers by delay (benchmarks/voices.py, 16 kHz), for the slices
# before they competed: 2.4 lifted them +0.6 dB (espeak-ng) and +0.7 dB (synthetic) over 1.2
# and 0.3; competing, 2.4 and 4 gave within 0.2 dB on the synthetic talkers, 1.2 0.3 dB less.
SPACING_MARGIN = 2.4


def parted(found, cells) -> tuple[list[float], list[float], list[float]]:
    """The gaps between the sources ``found`` [(azimuth, delay ms)]: those that level parts and
    those that delay parts, each pair by the axis on which it lies more cells apart; and, where
    level agrees, the level gaps of the pairs that delay parts. Spaced microphones hear a nearer
    talker a little louder too (a room's three talkers 1.2 m from mics 20 cm apart read
    azimuths -0.1, 0 and +0.1 with delays 10 cells apart): delay parts them, and level helps
    where every such pair lies a cell apart or more in level, on the side its delay says (the
    one heard later on the left louder on the right); a room's reflections scramble the level
    and the order with it. Two sources within a cell on both axes (one found twice) are parted
    by neither."""
    by_level, by_delay, level_too = [], [], []
    agree = True
    for i, (a, d) in enumerate(found):
        for ai, di in found[i + 1:]:
            if abs(ai - a) < cells[0] and abs(di - d) < cells[1]:
                continue
            if abs(ai - a) / cells[0] >= abs(di - d) / cells[1]:
                by_level.append(abs(ai - a))
            else:
                by_delay.append(abs(di - d))
                level_too.append(abs(ai - a))
                agree &= (ai - a) * (di - d) > 0 and abs(ai - a) >= 0.99 * cells[0]
    return by_level, by_delay, level_too if agree else []


def settings(found, k: int, cells) -> dict:
    """Registry values for the slice on source ``k`` of ``found`` [(azimuth, delay ms)]: its
    direction, the others as its rivals, and the axes (direction_cue 0 level, 1 delay, 2 both)
    and widths that part them. A source alone gets a plain slice, half the field wide, and
    sources that nothing parts share every bin in widths as wide."""
    a, d = found[k]
    if len(found) == 1:
        return {"direction_cue": 0.0, "center": round(float(a), 3), "width": 0.5,
                "softness": 0.5, "rivals": 0.0}
    by_level, by_delay, level_too = parted(found, cells)
    cue = 2 if by_delay and (by_level or level_too) else 1 if by_delay else 0
    width = 2.0 if cue == 1 else float(np.clip(min([WIDTH_SHARE * g for g in by_level]
                                                   + [LEVEL_TOO_SHARE * g for g in level_too],
                                                   default=0.5), 0.02, 1.0))
    s = {"direction_cue": float(cue), "center": round(float(a), 3), "width": round(width, 3),
         "smooth_ms": SMOOTH_MS if cue else 0.0, "rivals": float(len(found) - 1)}
    others = sorted((p for i, p in enumerate(found) if i != k),   # left to right, as the stems
                    key=lambda p: p[0] / cells[0] + p[1] / cells[1])
    for i, (ai, di) in enumerate(others, 1):
        s[f"rival.{i}.center"] = round(float(ai), 3)
        s[f"rival.{i}.delay_ms"] = round(float(di), 4)
    if cue == 0:
        return s
    far = max(abs(p[1]) for p in found)
    s.update({"delay_center_ms": round(float(d), 4),
              "delay_width_ms": round(float(np.clip(WIDTH_SHARE * min(by_delay), 0.005,
                                                    DELAY_WIDTH_MAX_MS)), 4),
              "mic_spacing_cm": round(float(np.clip(SPACING_MARGIN * far * 1e-3 * SPEED_OF_SOUND
                                                    * 100, 1.0, 300.0)), 1)})
    return s
