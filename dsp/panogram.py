"""Whole-file stereo-field analysis: where the energy sits by azimuth, frequency and time.

Offline numpy (not the streaming kernel): a short-time spectrum of the whole file, each bin's
azimuth on the engine's scale (:func:`panslice.dsp.mask.azimuth`'s pan law, vectorised), and
energy histograms over it. ``analyze`` draws these and turns :func:`find_voice` into settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FFT_SIZE = 4096
HOP = 1024
VOICE_BAND_HZ = (200.0, 4000.0)   # where a singing or speaking voice carries most of its energy
GRID = np.linspace(-1.0, 1.0, 201)   # fine azimuth grid for the voice profile (0.01 steps)


def stft(x: np.ndarray, fft_size: int = FFT_SIZE, hop: int = HOP) -> np.ndarray:
    """Hann-windowed spectrum of a stereo signal [shape=(2, n)] -> complex64 (2, frames, bins)."""
    n = x.shape[1]
    if n < fft_size:
        x = np.pad(x, ((0, 0), (0, fft_size - n)))
    frames = 1 + (x.shape[1] - fft_size) // hop
    w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(fft_size) / fft_size)).astype(np.float32)
    out = np.empty((2, frames, fft_size // 2 + 1), np.complex64)
    step = 256
    for f0 in range(0, frames, step):   # in slices, so a long file never holds frames x fft_size
        idx = np.arange(fft_size)[None, :] + hop * np.arange(f0, min(f0 + step, frames))[:, None]
        out[:, f0:f0 + idx.shape[0]] = np.fft.rfft(x[:, idx].astype(np.float32) * w, axis=-1)
    return out


def azimuth_energy(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin azimuth (-1..1, constant-power pan law) and energy |L|^2 + |R|^2."""
    ml = np.abs(spec[0])
    mr = np.abs(spec[1])
    az = (np.arctan2(mr, ml) * (4.0 / np.pi) - 1.0).astype(np.float32)
    return az, ml * ml + mr * mr


def panogram(az: np.ndarray, energy: np.ndarray, freqs: np.ndarray, az_edges: np.ndarray,
             f_edges: np.ndarray) -> np.ndarray:
    """Energy by (frequency band, azimuth bin) over the whole file [shape=(len(f_edges)-1,
    len(az_edges)-1)]."""
    fi = np.digitize(freqs, f_edges) - 1
    out = np.zeros((len(f_edges) - 1, len(az_edges) - 1))
    for b in range(len(f_edges) - 1):
        cols = fi == b
        if cols.any():
            out[b] = np.histogram(az[:, cols], az_edges, weights=energy[:, cols])[0]
    return out


def azimuth_over_time(az: np.ndarray, energy: np.ndarray, az_edges: np.ndarray,
                      frames_per_column: int) -> np.ndarray:
    """Energy by (time column, azimuth bin); each column sums ``frames_per_column`` frames."""
    cols = max(1, az.shape[0] // frames_per_column)
    out = np.zeros((cols, len(az_edges) - 1))
    for c in range(cols):
        sl = slice(c * frames_per_column, (c + 1) * frames_per_column)
        out[c] = np.histogram(az[sl], az_edges, weights=energy[sl])[0]
    return out


def lr_correlation(x: np.ndarray) -> float:
    """Pearson correlation of the left and right samples (1 = mono, 0 = unrelated, -1 = inverted)."""
    l = x[0].astype(np.float64) - x[0].mean()
    r = x[1].astype(np.float64) - x[1].mean()
    den = np.sqrt(np.dot(l, l) * np.dot(r, r))
    return float(np.dot(l, r) / den) if den > 0 else 1.0


def fraction_within(az: np.ndarray, energy: np.ndarray, center: float, half: float) -> float:
    """Share of ``energy`` whose azimuth lies within ``center +/- half``."""
    total = energy.sum()
    return float(energy[np.abs(az - center) <= half].sum() / total) if total > 0 else 0.0


def voice_profile(az: np.ndarray, energy: np.ndarray, freqs: np.ndarray,
                  band: tuple[float, float] = VOICE_BAND_HZ) -> np.ndarray:
    """Voice-band energy on :data:`GRID`, smoothed over +/-0.02 and scaled to sum to 1."""
    cols = (freqs >= band[0]) & (freqs <= band[1])
    step = GRID[1] - GRID[0]
    edges = np.concatenate([GRID - step / 2, [GRID[-1] + step / 2]])
    h = np.histogram(az[:, cols], edges, weights=energy[:, cols])[0]
    k = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    h = np.convolve(h, k / k.sum(), mode="same")
    s = h.sum()
    return h / s if s > 0 else h


@dataclass
class VoiceEstimate:
    """Where the voice sits on the azimuth axis, and how it is spread."""

    center: float            # azimuth of the chosen peak
    spread: float            # half-width at half height of that peak (azimuth units)
    neighbour: float         # distance to the nearest other strong peak (inf if none)
    peaks: list[float]       # every strong peak, for the report


STRONG = 0.35     # a peak at least this share of the highest is a candidate for the voice
DISTINCT = 0.5    # a peak is a separate source when it rises this share of its height above
                  # the valley that joins it to higher ground (its prominence)
NEIGHBOUR = 0.15  # a separate source at least this share of the highest limits the slice width


def find_voice(profile: np.ndarray) -> VoiceEstimate:
    """Pick the voice on a voice-band azimuth profile.

    Voices are mixed near the centre far more often than anything else in their band, so of
    the strong, distinct peaks the one nearest the centre is taken; a lone voice panned
    off-centre is still found, because it is the strong peak. Bumps on the voice's own slope
    (reverb, doubling) are not distinct and count as part of its spread.
    """
    p = profile
    top = p.max() if p.size else 0.0
    if top <= 0:
        return VoiceEstimate(0.0, 0.0, float("inf"), [])
    maxima = [i for i in range(len(p)) if p[i] > 0 and (i == 0 or p[i] >= p[i - 1])
              and (i == len(p) - 1 or p[i] > p[i + 1])]
    distinct = [i for i in maxima if p[i] >= NEIGHBOUR * top
                and _prominence(p, i) >= DISTINCT * p[i]]
    strong = [i for i in distinct if p[i] >= STRONG * top] or [int(np.argmax(p))]
    pick = min(strong, key=lambda i: (abs(GRID[i]), -p[i]))
    # The peak's extent at half its height; its centre is the energy centroid of that span,
    # which sits where the voice's energy is even when the top of the peak is lopsided.
    ends = []
    for d in (-1, 1):
        j = pick
        while 0 <= j + d < len(p) and p[j + d] >= 0.5 * p[pick]:
            j += d
        ends.append(j)
    span = slice(ends[0], ends[1] + 1)
    center = float(np.dot(GRID[span], p[span]) / p[span].sum())
    spread = 0.5 * (GRID[ends[1]] - GRID[ends[0]] + (GRID[1] - GRID[0]))
    others = [abs(GRID[i] - center) for i in distinct if i != pick]
    return VoiceEstimate(round(center, 3) + 0.0, float(spread), min(others, default=float("inf")),
                         [float(GRID[i]) for i in strong])


def _prominence(p: np.ndarray, i: int) -> float:
    """Height of peak ``i`` above the higher of its two bases (the lowest points between it and
    higher ground on each side, or the ends of the axis)."""
    bases = []
    for d in (-1, 1):
        j, low = i, p[i]
        while 0 <= j + d < len(p) and p[j + d] <= p[i]:
            j += d
            low = min(low, p[j])
        bases.append(low)
    return float(p[i] - max(bases))
