"""Whole-file stereo-field analysis: where the energy sits by azimuth, frequency and time.

Offline numpy (not the streaming kernel): a short-time spectrum of the file, each bin's azimuth
on the engine's scale (:func:`panslice.dsp.mask.azimuth`'s pan law, vectorised), and energy
histograms over it. :func:`measure` works through the file a slice of frames at a time and
keeps only the histograms, so memory grows with the number of frames times ~100 bins, not times
the FFT size: an hour of music needs about 100 MB. ``analyze`` draws the histograms and turns
:func:`find_voice` into settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FFT_SIZE = 4096
HOP = 1024
VOICE_BAND_HZ = (200.0, 4000.0)   # where a singing or speaking voice carries most of its energy
GRID = np.linspace(-1.0, 1.0, 201)   # fine azimuth grid for the voice profile (0.01 steps)
AZ_BINS = 101                        # azimuth bins of the pictures
CHUNK = 256                          # frames per slice


def frames(n: int, fft_size: int = FFT_SIZE, hop: int = HOP) -> int:
    return 1 + (max(n, fft_size) - fft_size) // hop


def stft(x: np.ndarray, fft_size: int = FFT_SIZE, hop: int = HOP, start: int = 0,
         stop: int | None = None) -> np.ndarray:
    """Hann-windowed spectrum of frames ``start..stop`` of a stereo signal [shape=(2, n)] ->
    complex64 (2, frames, bins). Frame f starts at sample f * hop."""
    n = x.shape[1]
    if n < fft_size:
        x = np.pad(x, ((0, 0), (0, fft_size - n)))
    stop = frames(n, fft_size, hop) if stop is None else stop
    w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(fft_size) / fft_size)).astype(np.float32)
    seg = np.asarray(x[:, start * hop: (stop - 1) * hop + fft_size], np.float32)
    view = np.lib.stride_tricks.sliding_window_view(seg, fft_size, axis=1)[:, ::hop]
    return np.fft.rfft(view * w, axis=-1).astype(np.complex64, copy=False)


def azimuth_energy(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin azimuth (-1..1, constant-power pan law) and energy |L|^2 + |R|^2."""
    ml = np.abs(spec[0])
    mr = np.abs(spec[1])
    az = (np.arctan2(mr, ml) * (4.0 / np.pi) - 1.0).astype(np.float32)
    return az, ml * ml + mr * mr


@dataclass
class Field:
    """The histograms of one file. Rows are log-frequency rows (``row_edges``, Hz)."""

    row_edges: np.ndarray
    panogram: np.ndarray     # energy [row, azimuth bin] over the whole file
    by_frame: np.ndarray     # energy [frame, azimuth bin] over all frequencies
    power: np.ndarray        # mean L+R power [frame, row] (0 where a row holds no FFT bin)
    voice: np.ndarray        # voice-band energy on GRID
    whole: np.ndarray        # all energy on GRID


def _row_index(freqs: np.ndarray, row_edges: np.ndarray) -> np.ndarray:
    ri = np.digitize(freqs, row_edges) - 1
    ri[(ri < 0) | (ri >= len(row_edges) - 1)] = -1
    return ri


def _az_index(az: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(((az + 1.0) * (0.5 * bins)).astype(np.int64), 0, bins - 1)


def power_rows(x: np.ndarray, sample_rate: float, row_edges: np.ndarray) -> np.ndarray:
    """Mean L+R power per frame and log-frequency row [shape=(frames, rows)]."""
    return measure(x, sample_rate, row_edges, power_only=True).power


def measure(x: np.ndarray, sample_rate: float, row_edges: np.ndarray,
            power_only: bool = False) -> Field:
    """Every histogram analyze needs, from a stereo signal [shape=(2, n)], slice by slice."""
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / sample_rate)
    ri = _row_index(freqs, row_edges)
    rows = len(row_edges) - 1
    in_row = ri >= 0
    per_row = np.maximum(np.bincount(ri[in_row], minlength=rows), 1)
    vb = (freqs >= VOICE_BAND_HZ[0]) & (freqs <= VOICE_BAND_HZ[1])
    total = frames(x.shape[1])
    pano = np.zeros(rows * AZ_BINS)
    by_frame = np.zeros((total, AZ_BINS))
    power = np.zeros((total, rows))
    voice = np.zeros(len(GRID))
    whole = np.zeros(len(GRID))
    for f0 in range(0, total, CHUNK):
        f1 = min(f0 + CHUNK, total)
        spec = stft(x, start=f0, stop=f1)
        m = f1 - f0
        fr = np.arange(m)[:, None]
        if power_only:
            e = (np.abs(spec[0]) ** 2 + np.abs(spec[1]) ** 2)[:, in_row]
            key = (fr * rows + ri[in_row][None, :]).ravel()
            power[f0:f1] = np.bincount(key, e.ravel(), m * rows).reshape(m, rows) / per_row
            continue
        az, e = azimuth_energy(spec)
        ai = _az_index(az, AZ_BINS)
        gi = np.clip(np.rint((az + 1.0) / (GRID[1] - GRID[0])).astype(np.int64), 0, len(GRID) - 1)
        pano += np.bincount((ri[in_row][None, :] * AZ_BINS + ai[:, in_row]).ravel(),
                            e[:, in_row].ravel(), rows * AZ_BINS)
        by_frame[f0:f1] = np.bincount((fr * AZ_BINS + ai).ravel(), e.ravel(),
                                      m * AZ_BINS).reshape(m, AZ_BINS)
        key = (fr * rows + ri[in_row][None, :]).ravel()
        power[f0:f1] = np.bincount(key, e[:, in_row].ravel(), m * rows).reshape(m, rows) / per_row
        voice += np.bincount(gi[:, vb].ravel(), e[:, vb].ravel(), len(GRID))
        whole += np.bincount(gi.ravel(), e.ravel(), len(GRID))
    return Field(row_edges, pano.reshape(rows, AZ_BINS), by_frame, power, voice, whole)


def lr_correlation(x: np.ndarray) -> float:
    """Pearson correlation of the left and right samples (1 = mono, 0 = unrelated, -1 = inverted)."""
    l = x[0].astype(np.float64) - x[0].mean()
    r = x[1].astype(np.float64) - x[1].mean()
    den = np.sqrt(np.dot(l, l) * np.dot(r, r))
    return float(np.dot(l, r) / den) if den > 0 else 1.0


def share_within(hist: np.ndarray, center: float, half: float) -> float:
    """Share of a GRID histogram's energy whose azimuth lies within ``center +/- half``."""
    total = hist.sum()
    return float(hist[np.abs(GRID - center) <= half + 1e-9].sum() / total) if total > 0 else 0.0


def voice_profile(voice_hist: np.ndarray) -> np.ndarray:
    """The voice-band histogram smoothed over +/-0.02 and scaled to sum to 1."""
    k = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    h = np.convolve(voice_hist, k / k.sum(), mode="same")
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
