"""Finding sources by direction: a DUET-like histogram of level and delay, and its peaks.

Speech is sparse: most time-frequency bins hold one talker, so each bin's direction is that
talker's, and the directions of all bins pile up around one peak per talker (DUET: Rickard and
Yilmaz). A bin's direction is its azimuth by level (mask.azimuth's pan law) and, for the delay,
every delay its inter-channel phase agrees with: a bin adds exp(KAPPA (cos(phase - w tau) - 1))
at each candidate delay tau (the angular spectrum of GCC-PHAT made sharper, Blandin et al. 2012),
so bins above the spatial-aliasing frequency count too, each at all the delays it allows; summed
over many frequencies only the talkers' own delays pile up.

In a room this is what finds the talkers: one delay per bin read below the aliasing frequency
(100-500 Hz for 1 ms), power-weighted, was pulled towards 0 by the reverberation, strongest and
most alike at both microphones at low frequencies. Each bin from LOW_HZ to HIGH_HZ counts once
at most (PHAT: the direct sound's phase, not its power, tells the delay), less as it sinks
towards its frequency's noise floor (a live recording's hiss would vote for every delay), and
the floor the kernels leave is taken away before the peaks are picked.

Offline, in numpy: fed the stream block by block, it holds the histogram, a frame of samples
and the spectra of the noise floor's window (NOISE_S either side), never the file. The peaks
become settings for the engine (stream.py), one slice each, the others its rivals (rivals.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import rivals

AZ_CELLS = 41       # azimuth -1 .. 1, 0.05 a cell
DELAY_CELLS = 121   # delay -max .. max: 1/60 ms a cell at 1 ms (a quarter sample at 16 kHz)
# Chosen on three talkers in two room layouts other than the benchmark's (angles -40/15/70 at
# 1.5 m, -75/-20/30 at 0.9 m), espeak-ng and synthetic, mics 5-30 cm apart, anechoic and at
# RT60 0.2-0.4 s, 16 kHz (64 rooms), by the rooms whose three delays were all found within
# 0.05 ms: 22 with the old reading, 57 with these. Changed one at a time (nearly): LOW_HZ 500
# or 1200, 54 and 52; HIGH_HZ 2000 or 4000, 20-32 (with LOW_HZ 100; 7000: 29-37); KAPPA 5, 56
# (30 or 100: 58/59, but then a bin's kernel is narrower than a cell at the top); bins weighted
# by their power to the 0.1 or 0.25, 55 and 51 (power itself: 5-22); counted only where the
# inter-channel coherence over 5 bins x 3 frames passed 0.5 or 0.8, 56 and 55; only at onsets
# (power x2 over the frame before), 58: left out, within the noise of 64 rooms.
LOW_HZ = 800.0
HIGH_HZ = 7900.0
KAPPA = 10.0
# A bin is counted where it is within QUIET of its frame's strongest and within SILENT of the
# strongest bin heard so far: in a pause, the reverberation's tail and the noise would count as
# much as a talker's direct sound (every bin counts once). SILENT 1e-10 (whole-file maximum)
# found all three delays in 57 of the 64 rooms below; none (only QUIET): 49.
QUIET = 1e-7
SILENT = 1e-10
# Peaks are picked on the histogram less each azimuth row's median (the floor every bin's
# kernel leaves), smoothed over SMOOTH cells either side (azimuth, delay), and must lie
# APART cells from a stronger one on either axis: reverberation scatters a talker's bins over
# level (a room's talker spans +/- 0.3 of azimuth at spaced mics), far less over delay. On the
# 64 rooms: smoothed over (3, 0) 59, (3, 1) 57, (1, 1) 55 (and panned talkers found 0.05 short
# of their azimuth with (3, 1) before _refine).
SMOOTH = (3, 0)
APART = (6, 4)
# Without a count, how many peaks are sources. A peak parted from every stronger one kept by
# delay counts if it reaches FLOOR of the highest and LIFT_NEAR times the reverberant floor, or
# FAINT of the highest and LIFT times that floor; the floor is the RIPPLE_PCT percentile of the
# heights of all the histogram's local maxima (most of them the reverberation's ripple). In a
# room the reverberation, alike at both microphones at low frequencies, piles up on the talker
# nearest delay 0, so the highest peak alone was the wrong yardstick: a third talker reached
# 0.1-0.3 of it. A peak parted from a stronger one by level alone (a panned source; reverberation
# spreads a talker over level) still needs FLOOR, and a peak with no dip at all on the straight
# line to a stronger one (a plateau: a source dead centre, smoothed over azimuth) is the same
# source. Chosen on the choosing rooms of benchmarks/sources_count.py (224 rooms, 16 kHz: 1-4
# choose talkers, other layouts than voices.py's, 5-30 cm, anechoic and RT60 0.2-0.4 s): count
# right 197 -> 207 (FLOOR alone, the old rule; too few 23 -> 13, too many 4 -> 4); the real
# tracks must list no more than before (1 each). FAINT 0.1-0.18 the same; LIFT 4 or LIFT_NEAR
# 2: 206; RIPPLE_PCT 93 with LIFT 8, LIFT_NEAR 3: 207 but voices.py's rooms 11 (15 with these).
# FAINT 0.15 and LIFT 4 at RIPPLE_PCT 95 without the FLOOR tier: 204, but a real track listed 3
# (AM Contra: peaks at +/-0.13 ms, 0.34 and 0.29 of the highest). Measured on voices.py's 32
# rooms: 5 -> 15 right (none too many); one talker alone in its rooms (32) 30 -> 32; the real
# tracks made centred (mono) 0 -> 6 right (the plateau), mono-ish 6 -> 6. FLOOR_BY_DELAY, FLOOR
# for a peak parted by delay, 0.35 -> 0.38 with the noise floor's weights (OVER): the choose
# rooms the same (207, and 53 of 56 at RT60 0.3 s; with white noise 30 dB under 42 -> 43),
# and a real track listed 1 again (AM Contra, its peaks at -/+0.13 ms weighed 0.36 and 0.30
# of the highest); for a peak parted by level 0.38 lost a talker of three panned by level.
FLOOR = 0.35
FLOOR_BY_DELAY = 0.38
FAINT = 0.15
LIFT = 3.5
LIFT_NEAR = 1.5
RIPPLE_PCT = 97.0
SAME_HILL = 0.01   # a dip under 1 % of the weaker peak's height is none
# A peak FAR times further from delay 0 than every stronger one kept (two at least), and below
# WEAK of the weakest of them, is a ripple of the histogram, not a talker: with mics 5 cm apart
# in a room the talkers sit 0.1 ms apart, the reverberation piles up at 0, and a ripple far out
# was picked instead of a talker's shoulder (its delay sets the spacing every slice assumes).
# On the 64 rooms above, all three delays found within 0.05 ms: 59 -> 62 (the benchmark's
# layout, 32 rooms: 28 -> 32); the counts found without a count unchanged.
FAR = 2.0
WEAK = 0.5
MAX_SOURCES = 8
# Settings compare distances in cells of 0.05 azimuth and 2/41 ms (the old histogram's), so a
# slice parts its neighbours by level or by delay as it did whatever the histogram's resolution.
PART_CELLS = (2.0 / AZ_CELLS, 2.0 / 41)
# Each bin's vote is 1 - OVER x floor / its power (none below), the floor the least of the
# power (both mics, smoothed over 3 frames) within NOISE_S either side and NOISE_HZ of it: the
# hiss a live recording always carries. And a peak at a stronger one's delay (within APART)
# with a dip under LEVEL_DIP of its height between them is that one (hiss apart at each mic
# scatters a talker's level, its peak split in two at +/-0.15). Chosen on the choose rooms of
# benchmarks/sources_count.py at RT60 0.3 s (56, 16 kHz), clean and with noise: count right
# without a count / told it, every delay within 0.05 ms (of 48), before -> with these:
# white 20 dB under 26/30 -> 37/33, white 30 dB 40/38 -> 42/40, diffuse pink 20 dB 29/33 ->
# 43/37, clean 53/47 -> 53/46. OVER 4: 20 dB 36/30; 10 (floor over time alone): 35/28;
# LEVEL_DIP 0: 20 dB 36/31, pink 40/34. The floor over time alone (3 x 3 bins smoothed) took a
# held synthetic voice for noise: one talker alone in a clean room was listed as 2.
NOISE_S = 1.0
NOISE_HZ = 60.0
OVER = 8.0
LEVEL_DIP = 0.2
CHUNK = 16384       # bins per kernel evaluation (memory: CHUNK x DELAY_CELLS)


@dataclass(frozen=True)
class Source:
    """One source found: where it sits, its share of the histogram, and the settings that
    select it (registry names and values)."""

    azimuth: float
    delay_ms: float
    share: float
    settings: dict


class DirectionHistogram:
    """Histogram of (azimuth, delay) over the bins of a stream, each bin counted once."""

    def __init__(self, sample_rate: float, max_delay_ms: float = 1.0):
        self.sample_rate = float(sample_rate)
        self.max_delay_ms = float(max_delay_ms)
        # about 64 ms, the frame that separated speech best here; the slices use it too
        self.n = min(8192, max(512, 1 << int(round(math.log2(sample_rate * 0.064)))))
        self.hop = self.n // 4
        self.window = np.hanning(self.n + 1)[:-1]
        f = np.fft.rfftfreq(self.n, 1.0 / sample_rate)
        self.high_hz = min(HIGH_HZ, 0.49 * sample_rate)
        self.bins = np.flatnonzero((f >= LOW_HZ) & (f <= self.high_hz))
        self.omega = 2.0 * np.pi * self.bins / self.n   # radians per sample
        self.tau = self.axes()[1] * (self.sample_rate / 1e3)   # the cells' delays, samples
        # the noise floor's window reaches this many frames either side (and one more, smoothed)
        self.reach = max(1, int(round(NOISE_S * sample_rate / self.hop)))
        self.apart = max(1, int(round(NOISE_HZ * self.n / sample_rate)))
        self._hist = np.zeros((AZ_CELLS, DELAY_CELLS))
        self._tail: np.ndarray | None = None
        self.pending = np.zeros((2, 0))
        self.spec = np.zeros((2, 0, self.bins.size), complex)   # frames kept: context, to count
        self.fresh = 0            # how many of them are not counted yet (the last ones)
        self.loudest = 0.0

    @property
    def hist(self) -> np.ndarray:
        """The histogram of every frame so far (the last ones weighed with the floor they have)."""
        if self._tail is None:
            self._tail = self._votes(self.spec.shape[1] - self.fresh, self.loudest)[0]
        return self._hist + self._tail

    @hist.setter
    def hist(self, h: np.ndarray) -> None:
        """A histogram made before (a cache): frames not counted yet are dropped."""
        self._hist, self._tail = np.asarray(h, float), np.zeros_like(h, float)
        self.spec, self.fresh = self.spec[:, :0], 0

    def add(self, block: np.ndarray) -> None:
        """Feed the next samples [shape=(2, n)]."""
        buf = np.concatenate([self.pending, np.asarray(block, np.float64)], axis=1)
        frames = (buf.shape[1] - self.n) // self.hop + 1
        if frames > 0:
            starts = np.arange(frames)[:, None] * self.hop + np.arange(self.n)
            spec = np.fft.rfft(buf[:, starts] * self.window, axis=-1)[:, :, self.bins]
            self.spec = np.concatenate([self.spec, spec], axis=1)
            self.fresh += frames
            buf = buf[:, frames * self.hop:]
            self._count_ready()
        self.pending = buf

    def _count_ready(self) -> None:
        """Count the frames whose noise floor's window is whole, keep the context the next
        ones need."""
        total = self.spec.shape[1]
        first = total - self.fresh
        ready = max(0, total - self.reach - 1 - first)
        if ready:
            votes, self.loudest = self._votes(first, self.loudest, ready)
            self._hist += votes
            self.fresh -= ready
        self._tail = None
        drop = max(0, total - self.fresh - self.reach - 1)
        self.spec = self.spec[:, drop:]

    def _votes(self, first: int, loudest: float, count: int | None = None):
        """The votes of ``count`` kept frames from ``first`` (all the rest if None), each bin
        weighed by how far it stands above its frequency's noise floor; and the loudest bin."""
        count = self.spec.shape[1] - first if count is None else count
        votes = np.zeros((AZ_CELLS, DELAY_CELLS))
        if count <= 0:
            return votes, loudest
        power = np.abs(self.spec[0]) ** 2 + np.abs(self.spec[1]) ** 2
        part = slice(first, first + count)
        weight = _above_noise(power, self.reach, self.apart)[part]
        left, right, power = self.spec[0, part], self.spec[1, part], power[part]
        # the strongest bin so far, frame by frame: the same whatever the blocks
        so_far = np.maximum.accumulate(np.maximum(power.max(axis=1), loudest))
        heard = ((power > QUIET * power.max(axis=1, keepdims=True))
                 & (power > SILENT * so_far[:, None]) & (weight > 0.0) & (power > 0.0))
        pl, pr = np.abs(left[heard]) ** 2, np.abs(right[heard]) ** 2
        az = np.arctan2(np.sqrt(pr), np.sqrt(pl)) * (4.0 / np.pi) - 1.0
        cell = np.minimum(((az + 1.0) * (0.5 * AZ_CELLS)).astype(np.intp), AZ_CELLS - 1)
        phase = np.angle(right[heard] * np.conj(left[heard]))
        omega = np.broadcast_to(self.omega, heard.shape)[heard]
        weight = weight[heard]
        for at in range(0, cell.size, CHUNK):
            part = slice(at, at + CHUNK)
            agree = np.cos(phase[part, None] - omega[part, None] * self.tau)
            kernel = np.exp(KAPPA * (agree - 1.0))
            rows = np.zeros((AZ_CELLS, kernel.shape[0]))
            rows[cell[part], np.arange(kernel.shape[0])] = weight[part]
            votes += rows @ kernel
        return votes, float(so_far[-1])

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """The cells' centres: azimuths, delays (ms)."""
        az = np.linspace(-1.0, 1.0, AZ_CELLS + 1)
        return 0.5 * (az[1:] + az[:-1]), np.linspace(-self.max_delay_ms, self.max_delay_ms,
                                                     DELAY_CELLS)

    def peaks_of(self) -> np.ndarray:
        """The histogram the peaks are picked on: less each row's floor, smoothed."""
        return _smooth(self._above_floor(), SMOOTH)

    def _above_floor(self) -> np.ndarray:
        return np.maximum(self.hist - np.median(self.hist, axis=1, keepdims=True), 0.0)

    def sources(self, count: int | None = None) -> list[Source]:
        """The peaks (the ``count`` strongest, or those that are sources: _counted), from left
        to right."""
        az, d = self.axes()
        h = self.peaks_of()
        cells = _refine(_smooth(self._above_floor(), (1, 1)), _peaks(h, count))
        if not cells:
            return []
        found = [(az[i], d[j]) for i, j in cells]
        return self.at(found, _shares(h, az, d, found, self.max_delay_ms))

    def at(self, directions, shares=None) -> list[Source]:
        """Sources at the given (azimuth, delay ms) directions, left to right, with the settings
        the peaks would get: a yardstick for the finding (the benchmark's true directions)."""
        cells = PART_CELLS
        shares = np.full(len(directions), np.nan) if shares is None else shares
        key = [p[0] / cells[0] + p[1] / cells[1] for p in directions]   # left: less of both
        return [Source(float(directions[k][0]), float(directions[k][1]), float(shares[k]),
                       {"fft_size": float(self.n), **rivals.settings(directions, k, cells)})
                for k in np.argsort(key, kind="stable")]


def _above_noise(power: np.ndarray, reach: int, apart: int) -> np.ndarray:
    """Each bin's weight [shape=(frames, bins)]: 1 - OVER x its frequency's noise floor over
    its power, at least 0. The floor is the least of the power smoothed over 3 frames, within
    ``reach`` frames and ``apart`` bins either side (minimum statistics, Martin 2001, also over
    frequency: between a held voice's or note's harmonics, not on them)."""
    smooth = ndimage.uniform_filter1d(power, 3, axis=0, mode="nearest")
    floor = ndimage.minimum_filter(smooth, (2 * reach + 1, 2 * apart + 1), mode="nearest")
    return np.maximum(1.0 - OVER * floor / np.maximum(power, 1e-300), 0.0)


def _smooth(h: np.ndarray, half) -> np.ndarray:
    """A box of 2 half + 1 cells on each axis (edges padded with zeros)."""
    a, b = half
    p = np.pad(h, ((a, a), (b, b)))
    c = np.cumsum(np.cumsum(np.pad(p, ((1, 0), (1, 0))), axis=0), axis=1)
    m, n = h.shape
    box = c[2 * a + 1:, 2 * b + 1:] - c[:m, 2 * b + 1:] - c[2 * a + 1:, :n] + c[:m, :n]
    return box / ((2 * a + 1) * (2 * b + 1))


def _peaks(h: np.ndarray, count: int | None) -> list[tuple[int, int]]:
    """Local maxima, strongest first, each APART from a stronger one on either axis; none on
    the delay range's edges (the floor rising to an edge is no talker). The ``count`` strongest,
    or those _counted."""
    if h.max() <= 0.0:
        return []
    p = np.pad(h, 1, constant_values=-1.0)
    neighbours = np.max([p[1 + i:1 + i + h.shape[0], 1 + j:1 + j + h.shape[1]]
                         for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j], axis=0)
    top = (h >= neighbours) & (h > 0.0)
    top[:, [0, -1]] = False
    cand = np.argwhere(top & (h >= 1e-3 * h.max()))
    cand = cand[np.argsort(-h[cand[:, 0], cand[:, 1]], kind="stable")]
    kept: list[tuple[int, int]] = []
    for i, j in cand:
        if (all(abs(i - a) >= APART[0] or abs(j - b) >= APART[1] for a, b in kept)
                and not _ripple(h, kept, i, j) and not _same_delay(h, kept, i, j)):
            kept.append((int(i), int(j)))
    if count is not None:
        return kept[:count or MAX_SOURCES]
    return _counted(h, kept[:MAX_SOURCES], float(np.percentile(h[top], RIPPLE_PCT)))


def _counted(h: np.ndarray, kept, ripple: float) -> list[tuple[int, int]]:
    """The peaks that are sources, strongest first, up to the first that is not (FLOOR, FAINT,
    LIFT, LIFT_NEAR over the reverberant ``ripple``; SAME_HILL)."""
    out = kept[:1]
    for k in range(1, len(kept)):
        i, j = kept[k]
        if any(_dip(h, kept[k], c) < SAME_HILL * h[i, j] for c in kept[:k]):
            continue
        share = h[i, j] / h[kept[0]]
        if any(abs(j - b) < APART[1] for _, b in out):   # parted by level alone
            if share < FLOOR:
                break
        elif not ((share >= FLOOR_BY_DELAY and h[i, j] >= LIFT_NEAR * ripple)
                  or (share >= FAINT and h[i, j] >= LIFT * ripple)):
            break
        out.append(kept[k])
    return out


def _dip(h: np.ndarray, a, b) -> float:
    """How far ``h`` falls below the peak at ``a`` on the straight line to ``b``."""
    n = max(abs(a[0] - b[0]), abs(a[1] - b[1])) + 1
    ii = np.rint(np.linspace(a[0], b[0], n)).astype(np.intp)
    jj = np.rint(np.linspace(a[1], b[1], n)).astype(np.intp)
    return float(h[a] - h[ii, jj].min())


def _ripple(h: np.ndarray, kept, i: int, j: int) -> bool:
    """Whether the peak at (i, j) is weak and far out beyond the stronger ones kept (FAR)."""
    if len(kept) < 2:
        return False
    centre = 0.5 * (h.shape[1] - 1)
    reach = max(abs(b - centre) for _, b in kept)
    weakest = min(h[a, b] for a, b in kept)
    return abs(j - centre) > FAR * max(reach, 1.0) and h[i, j] < WEAK * weakest


def _same_delay(h: np.ndarray, kept, i: int, j: int) -> bool:
    """Whether the peak at (i, j) is a stronger one's at the same delay, parted by level with
    too shallow a dip between them (LEVEL_DIP): hiss apart at each microphone scatters a
    talker's level, splitting its peak in two."""
    return any(abs(j - b) < APART[1] and _dip(h, (i, j), (a, b)) < LEVEL_DIP * h[i, j]
               for a, b in kept)


def _refine(h: np.ndarray, cells) -> list[tuple[int, int]]:
    """Each peak moved to the highest cell of ``h`` (3 x 3 smoothed) within SMOOTH of it: the
    wide box finds the peaks, but where talkers overlap it leans towards the other talkers
    (three panned at -0.6/0/+0.6 were found at -0.49/0/+0.49; refined, -0.59/0/+0.59)."""
    a, b = SMOOTH
    out = []
    for i, j in cells:
        i0, j0 = max(i - a, 0), max(j - b, 0)
        win = h[i0:i + a + 1, j0:j + b + 1]
        di, dj = np.unravel_index(np.argmax(win), win.shape)
        out.append((int(i0 + di), int(j0 + dj)))
    return out


def _shares(h, az, d, found, max_delay_ms) -> np.ndarray:
    """Each source's share of the histogram: the cells nearest it (both axes over their span)."""
    ga, gd = np.meshgrid(az, d / max_delay_ms, indexing="ij")
    dist = [(ga - a) ** 2 + (gd - dd / max_delay_ms) ** 2 for a, dd in found]
    nearest = np.argmin(dist, axis=0)
    total = max(h.sum(), 1e-300)
    return np.array([h[nearest == k].sum() / total for k in range(len(found))])
