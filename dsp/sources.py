"""Finding sources by direction: a DUET-like histogram of level and delay, and its peaks.

Speech is sparse: most time-frequency bins hold one talker, so each bin's direction is that
talker's, and the directions of all bins pile up around one peak per talker (DUET: Rickard and
Yilmaz). A bin's direction is its azimuth by level (mask.azimuth's pan law) and its delay from
the inter-channel phase, read only below the spatial-aliasing frequency of the largest delay
looked for, where the phase is unambiguous.

Offline, in numpy: fed the stream block by block, it holds the histogram and a frame of
samples, never the file. The peaks become settings for the engine (stream.py), one slice each,
the others its rivals (rivals.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import rivals

AZ_CELLS = 41       # azimuth -1 .. 1, 0.05 a cell
DELAY_CELLS = 41    # delay -max .. max
LOW_HZ = 100.0      # below, a delay turns the phase too little to read
# Without a count, a peak must reach this share of the highest (3 x 3 smoothed): bins where
# talkers overlap pile up between them, up to 0.28 of the highest with three espeak-ng talkers,
# while each of those talkers reached 0.52 or more. Give a count to reach quieter ones.
FLOOR = 0.35
MAX_SOURCES = 8
# The fine histogram (TwoScales): its range, and when it is used. Measured on three talkers
# at 16 kHz (benchmarks/voices.py): the share of the coarse histogram's power within +/- 0.25 ms
# was 0.94 or more where their delays lay within it (mics 5-10 cm apart, anechoic and at RT60
# 0.3 s; -4/0/+3 samples) and 0.59 or less where they did not (20 cm; -10/0/+8 samples).
FINE_MS = 0.33
ZOOM_WITHIN_MS = 0.25
ZOOM_SHARE = 0.9


@dataclass(frozen=True)
class Source:
    """One source found: where it sits, its share of the histogram, and the settings that
    select it (registry names and values)."""

    azimuth: float
    delay_ms: float
    share: float
    settings: dict


class DirectionHistogram:
    """Power-weighted histogram of (azimuth, delay) over the bins of a stream."""

    def __init__(self, sample_rate: float, max_delay_ms: float = 1.0):
        self.sample_rate = float(sample_rate)
        self.max_delay_ms = float(max_delay_ms)
        # about 64 ms, the frame that separated speech best here; the slices use it too
        self.n = min(8192, max(512, 1 << int(round(math.log2(sample_rate * 0.064)))))
        self.hop = self.n // 4
        self.window = np.hanning(self.n + 1)[:-1]
        f = np.fft.rfftfreq(self.n, 1.0 / sample_rate)
        top = 1e3 / (2.0 * self.max_delay_ms)   # spatial aliasing of the largest delay
        self.bins = np.flatnonzero((f >= LOW_HZ) & (f <= top))
        self.omega = 2.0 * np.pi * self.bins / self.n   # radians per sample
        self.hist = np.zeros((AZ_CELLS, DELAY_CELLS))
        self.pending = np.zeros((2, 0))

    def add(self, block: np.ndarray) -> None:
        """Feed the next samples [shape=(2, n)]."""
        buf = np.concatenate([self.pending, np.asarray(block, np.float64)], axis=1)
        frames = (buf.shape[1] - self.n) // self.hop + 1
        if frames > 0:
            starts = np.arange(frames)[:, None] * self.hop + np.arange(self.n)
            spec = np.fft.rfft(buf[:, starts] * self.window, axis=-1)[:, :, self.bins]
            self._count(spec[0], spec[1])
            buf = buf[:, frames * self.hop:]
        self.pending = buf

    def _count(self, left: np.ndarray, right: np.ndarray) -> None:
        pl, pr = np.abs(left) ** 2, np.abs(right) ** 2
        az = np.arctan2(np.sqrt(pr), np.sqrt(pl)) * (4.0 / np.pi) - 1.0
        delay = np.angle(right * np.conj(left)) / self.omega * (1e3 / self.sample_rate)
        h, _, _ = np.histogram2d(az.ravel(), delay.ravel(), (AZ_CELLS, DELAY_CELLS),
                                 ((-1.0, 1.0), (-self.max_delay_ms, self.max_delay_ms)),
                                 weights=(pl + pr).ravel())
        self.hist += h

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """The cells' centres: azimuths, delays (ms)."""
        az = np.linspace(-1.0, 1.0, AZ_CELLS + 1)
        d = np.linspace(-self.max_delay_ms, self.max_delay_ms, DELAY_CELLS + 1)
        return 0.5 * (az[1:] + az[:-1]), 0.5 * (d[1:] + d[:-1])

    def sources(self, count: int | None = None) -> list[Source]:
        """The peaks (the ``count`` strongest, or all above FLOOR), from left to right."""
        az, d = self.axes()
        cells = _peaks(_smooth(self.hist), count)
        if not cells:
            return []
        found = [(az[i], d[j]) for i, j in cells]
        return self.at(found, _shares(self.hist, az, d, found, self.max_delay_ms))

    def at(self, directions, shares=None) -> list[Source]:
        """Sources at the given (azimuth, delay ms) directions, left to right, with the settings
        the peaks would get: a yardstick for the finding (the benchmark's true directions)."""
        az, d = self.axes()
        cells = (az[1] - az[0], d[1] - d[0])
        shares = np.full(len(directions), np.nan) if shares is None else shares
        key = [p[0] / cells[0] + p[1] / cells[1] for p in directions]   # left: less of both
        return [Source(float(directions[k][0]), float(directions[k][1]), float(shares[k]),
                       {"fft_size": float(self.n), **rivals.settings(directions, k, cells)})
                for k in np.argsort(key, kind="stable")]


class TwoScales:
    """A coarse histogram (delays to +/- 1 ms, read below 500 Hz) and a fine one (to +/- FINE_MS,
    read below 1.5 kHz, cells a third as wide) fed together; the fine one is used where nearly
    all the power sits well inside its range. Close microphones (5-10 cm) or talkers near the
    middle part by a few cells of the coarse one, or none: three talkers at 5 cm gave no three
    peaks at all; the fine one found them (espeak-ng, anechoic: +9.7 dB mean) and lifted those
    at 10 cm +9.1 (coarse: +7.3), those at -4/0/+3 samples +9.1 (+8.0), synthetic +13.5 (+1.5).
    Wider delays (20 cm and more) alias in the fine one's range: there the coarse one is used."""

    def __init__(self, sample_rate: float):
        self.coarse = DirectionHistogram(sample_rate, 1.0)
        self.fine = DirectionHistogram(sample_rate, FINE_MS)

    def add(self, block: np.ndarray) -> None:
        self.coarse.add(block)
        self.fine.add(block)

    def chosen(self) -> DirectionHistogram:
        """The fine histogram if ZOOM_SHARE of the coarse one's power lies within
        +/- ZOOM_WITHIN_MS, else the coarse one."""
        _, d = self.coarse.axes()
        by_delay = self.coarse.hist.sum(axis=0)
        inside = by_delay[np.abs(d) <= ZOOM_WITHIN_MS].sum()
        return self.fine if inside >= ZOOM_SHARE * by_delay.sum() > 0.0 else self.coarse


def _smooth(h: np.ndarray) -> np.ndarray:
    """A 3 x 3 box over the histogram (edges padded with zeros)."""
    p = np.pad(h, 1)
    return sum(p[i:i + h.shape[0], j:j + h.shape[1]] for i in range(3) for j in range(3)) / 9.0


def _peaks(h: np.ndarray, count: int | None) -> list[tuple[int, int]]:
    """Local maxima, strongest first, each at least 3 cells from a stronger one."""
    if h.max() <= 0.0:
        return []
    p = np.pad(h, 1, constant_values=-1.0)
    neighbours = np.max([p[1 + i:1 + i + h.shape[0], 1 + j:1 + j + h.shape[1]]
                         for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j], axis=0)
    floor = FLOOR * h.max() if count is None else 1e-3 * h.max()
    cand = np.argwhere((h >= neighbours) & (h >= floor))
    cand = cand[np.argsort(-h[cand[:, 0], cand[:, 1]], kind="stable")]
    kept: list[tuple[int, int]] = []
    for i, j in cand:
        if all(max(abs(i - a), abs(j - b)) >= 3 for a, b in kept):
            kept.append((int(i), int(j)))
    return kept[:count or MAX_SOURCES]


def _shares(h, az, d, found, max_delay_ms) -> np.ndarray:
    """Each source's share of the histogram: the cells nearest it (both axes over their span)."""
    ga, gd = np.meshgrid(az, d / max_delay_ms, indexing="ij")
    dist = [(ga - a) ** 2 + (gd - dd / max_delay_ms) ** 2 for a, dd in found]
    nearest = np.argmin(dist, axis=0)
    total = max(h.sum(), 1e-300)
    return np.array([h[nearest == k].sum() / total for k in range(len(found))])
