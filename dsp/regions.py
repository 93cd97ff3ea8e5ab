"""Hand-edit regions in the kernel: per-bin target and rest gains for one STFT frame.

A region is a box in time x frequency x azimuth with a gain for the target and one for the
rest, and optionally a move: its bins go wholly into the target (+1) or the rest (-1), which
keeps target + rest == input. It is held as one row of a float64 array in kernel units (input
samples, Hz, linear gain).
The streaming kernel asks :func:`edit_gains` once per frame; with no rows it is never called,
so a bounce without edits pays nothing.

Time is judged at the frame's centre, an input-sample position, so a region lands at the same
samples whatever the block size. Its edges fade with a raised cosine centred on the edge (the
gain is half-way exactly at ``t0`` and ``t1``), so a gain step never clicks. Overlapping regions
multiply.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .errors import ParameterError
from .mask import azimuth

# Columns of a region row (kernel units).
R_T0, R_T1, R_FADE, R_FLO, R_FHI, R_AZLO, R_AZHI, R_TGAIN, R_RGAIN, R_MOVE = range(10)
R_COLS = 10
MAX_GAIN_DB = 24.0   # the most an edit region may lift its bins


def to_kernel(rows: np.ndarray, sample_rate: float) -> np.ndarray:
    """Regions in user units (seconds, Hz, azimuth, dB; columns as ``R_*``) -> kernel units.

    Raises ParameterError naming the row for a shape, NaN or range problem.
    """
    a = np.asarray(rows, np.float64)
    if a.size == 0:
        return np.zeros((0, R_COLS))
    if a.ndim != 2 or a.shape[1] != R_COLS:
        raise ParameterError(f"edit regions must have shape (E, {R_COLS}), got {a.shape}")
    for i, r in enumerate(a):
        where = f"edit region {i + 1}"
        if np.isnan(r).any() or np.isinf(r[:R_TGAIN]).any() or (r[R_TGAIN:R_MOVE] == np.inf).any():
            raise ParameterError(f"{where}: values must be finite numbers (gains may be -inf)")
        if not 0.0 <= r[R_T0] < r[R_T1]:
            raise ParameterError(f"{where}: time range {r[R_T0]:g}..{r[R_T1]:g} s must have 0 <= start < end")
        if r[R_FADE] < 0.0:
            raise ParameterError(f"{where}: fade {r[R_FADE]:g} s must not be negative")
        if not 0.0 <= r[R_FLO] < r[R_FHI]:
            raise ParameterError(f"{where}: frequency range {r[R_FLO]:g}..{r[R_FHI]:g} Hz must have 0 <= low < high")
        if not -1.0 <= r[R_AZLO] < r[R_AZHI] <= 1.0:
            raise ParameterError(f"{where}: azimuth range {r[R_AZLO]:g}..{r[R_AZHI]:g} must have -1 <= low < high <= 1")
        if (r[R_TGAIN:R_MOVE] > MAX_GAIN_DB).any():
            raise ParameterError(f"{where}: gains must be at most +{MAX_GAIN_DB:g} dB")
        if r[R_MOVE] not in (-1.0, 0.0, 1.0):
            raise ParameterError(f"{where}: move must be -1 (to the rest), 0 or +1 (to the target)")
    k = a.copy()
    k[:, [R_T0, R_T1, R_FADE]] *= sample_rate
    g = a[:, R_TGAIN:R_MOVE]
    k[:, R_TGAIN:R_MOVE] = np.where(np.isneginf(g), 0.0, 10.0 ** (g / 20.0))
    return np.ascontiguousarray(k)


@njit(cache=True, inline="always")
def _ramp(x):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * x)


@njit(cache=True, inline="always")
def time_weight(pos, t0, t1, fade):
    """How far a region is in effect (0..1) at input-sample position ``pos``."""
    if fade <= 0.0:
        return 1.0 if t0 <= pos < t1 else 0.0
    half = 0.5 * fade
    return min(_ramp((pos - (t0 - half)) / fade), _ramp(((t1 + half) - pos) / fade))


@njit(cache=True)
def edit_gains(regions, pos, spec, freqs, mask, g_t, g_r):
    """Write per-bin target/rest gains for the frame centred on input sample ``pos``, and move
    bins of moving regions into the target or the rest by changing the frame's ``mask``.

    Returns False, leaving everything untouched, when no region reaches this frame. A bin is in
    a region when its frequency and its azimuth (from the frame's spectrum ``spec``) lie inside
    the region's ranges.
    """
    active = False
    nb = spec.shape[1]
    for e in range(regions.shape[0]):
        w = time_weight(pos, regions[e, R_T0], regions[e, R_T1], regions[e, R_FADE])
        if w == 0.0:
            continue
        if not active:
            for k in range(nb):
                g_t[k] = 1.0
                g_r[k] = 1.0
            active = True
        gt = 1.0 + w * (regions[e, R_TGAIN] - 1.0)
        gr = 1.0 + w * (regions[e, R_RGAIN] - 1.0)
        flo = regions[e, R_FLO]
        fhi = regions[e, R_FHI]
        alo = regions[e, R_AZLO]
        ahi = regions[e, R_AZHI]
        move = regions[e, R_MOVE]
        for k in range(nb):
            f = freqs[k]
            if f < flo or f > fhi:
                continue
            l = spec[0, k]
            r = spec[1, k]
            p = azimuth(l.real * l.real + l.imag * l.imag, r.real * r.real + r.imag * r.imag)
            if p < alo or p > ahi:
                continue
            g_t[k] *= gt
            g_r[k] *= gr
            if move > 0.0:
                mask[k] += w * (1.0 - mask[k])
            elif move < 0.0:
                mask[k] -= w * mask[k]
    return active
