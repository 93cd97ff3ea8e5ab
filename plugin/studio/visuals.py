"""The live panogram and meters, drawn from the engine's own frames and sent at a capped rate.

The chain's first panslice stage publishes each frame it analyses (``Engine.publish_frames``:
power and azimuth per bin, into a small ring); a thread wakes up to ``fps`` times a second,
copies the frames it has not seen (:class:`~panslice.dsp.frames.FrameReader`; those it came
too late for are skipped: the picture decimates, the audio loses nothing), bins their mean
energy by azimuth and log-frequency row (the axes of ``analyze``'s picture) and holds peaks
with a release, so the picture decays instead of flickering. No second FFT: the picture is what
the engine sees, the input of its stage. Each frame goes to ``publish`` as bytes: a header of
four float32 (slice RMS, rest RMS, file position in s or -1, the picture's top in dB re a
full-scale sine), then ``rows x AZ_BINS`` uint8 levels over the bottom ``RANGE_DB`` below that
top, low row first, then ``rows`` uint8 levels of the newest frames alone, every azimuth
together (over ``RANGE_DB`` below their own slowly falling top): the newest column of the
scrolling spectrogram that the page draws on live input, one column a picture.

When the engine's frames come slower than the pictures (a large hop at a low rate), a picture
with no new frame repeats the last column and lets the held picture decay, so the page still
gets ``fps`` pictures a second; when the frames stop (the audio loop stopped) for half a
second, so do the pictures.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from ...dsp import panogram as pg
from ...dsp.frames import FrameReader

FPS = 30.0
FFT = 4096            # the axes when no engine publishes (a chain without a panslice stage)
RING = 16             # frames the engine's ring holds: 16 per picture at 30 fps (480 a second)
PATIENCE_S = 0.5      # no frame for this long (or two hops if longer): the audio stopped
ROWS = 64
LOW_HZ = 30.0
AZ_BINS = pg.AZ_BINS
RANGE_DB = 60.0
RELEASE_DB = 1.5      # per frame: the held picture falls 45 dB a second at 30 fps
TOP_RELEASE_DB = 0.1  # the scale's top follows a quieter passage slowly


def row_edges(sample_rate: float, rows: int = ROWS) -> np.ndarray:
    """Log-frequency row edges, 30 Hz to Nyquist."""
    return np.geomspace(LOW_HZ, sample_rate / 2, rows + 1)


def bin_rows(sample_rate: float, edges: np.ndarray, fft: int) -> tuple[np.ndarray, np.ndarray]:
    """(FFT bin, row) pairs: each bin in the rows' span with its row, and for a row too
    narrow to hold a bin (the lowest ones), the bin nearest its centre."""
    freqs = np.fft.rfftfreq(fft, 1.0 / sample_rate)
    ri = np.digitize(freqs, edges) - 1
    inside = (ri >= 0) & (ri < len(edges) - 1)
    bins, rows = list(np.flatnonzero(inside)), list(ri[inside])
    for r in sorted(set(range(len(edges) - 1)) - set(rows)):
        bins.append(int(np.argmin(np.abs(freqs - np.sqrt(edges[r] * edges[r + 1])))))
        rows.append(r)
    return np.asarray(bins), np.asarray(rows)


class Panogram:
    """Bins an engine's frames into a decaying azimuth x log-frequency picture."""

    def __init__(self, sample_rate: float, fft_size: int, rows: int = ROWS):
        self.edges = row_edges(sample_rate, rows)
        self.rows = rows
        self._bins, self._row = bin_rows(sample_rate, self.edges, fft_size)
        counts = np.bincount(self._row, minlength=rows).astype(np.float64)
        # per cell: 1 / (bins in its row), and the engine's sqrt-Hann window's gain, so that a
        # full-scale sine in one channel reads 0 dB
        full_scale = (fft_size / np.pi) ** 2
        self._per_row = np.repeat(1.0 / (np.maximum(counts, 1) * full_scale), AZ_BINS)
        self.held = np.full(rows * AZ_BINS, -200.0)
        self.top = -200.0
        self.now = np.full(rows, -200.0)  # the newest frames' level per row (dB), not held
        self.now_top = -200.0

    def add(self, frames: np.ndarray) -> None:
        """Frames as the engine publishes them [shape=(m, 2, bins): power, azimuth per bin]
        into the held picture, their mean energy per cell; no frames: the picture decays."""
        m = frames.shape[0]
        if m == 0:
            self.held -= RELEASE_DB
            self.top = max(float(self.held.max()), self.top - TOP_RELEASE_DB)
            return
        e, az = frames[:, 0, self._bins], frames[:, 1, self._bins]
        col = np.clip(((az + 1.0) * (0.5 * AZ_BINS)).astype(np.int64), 0, AZ_BINS - 1)
        key = self._row * AZ_BINS + col
        power = np.bincount(key.ravel(), e.ravel(), self.rows * AZ_BINS) * (self._per_row / m)
        self.now = 10.0 * np.log10(power.reshape(self.rows, AZ_BINS).sum(axis=1) + 1e-12)
        self.now_top = max(float(self.now.max()), self.now_top - TOP_RELEASE_DB)
        db = 10.0 * np.log10(power + 1e-12)
        np.maximum(db, self.held - RELEASE_DB, out=self.held)
        self.top = max(float(self.held.max()), self.top - TOP_RELEASE_DB)

    def levels(self) -> np.ndarray:
        """The held picture as uint8 [rows * AZ_BINS], 0 at RANGE_DB below the top."""
        return _scaled(self.held, self.top)

    def column(self) -> np.ndarray:
        """The newest frames' level per row as uint8 [rows], 0 at RANGE_DB below its top."""
        return _scaled(self.now, self.now_top)


def _scaled(db: np.ndarray, top: float) -> np.ndarray:
    scaled = (db - (top - RANGE_DB)) * (255.0 / RANGE_DB)
    return np.clip(scaled, 0, 255).astype(np.uint8)


OVERVIEW_COLS = 1200
OVERVIEW_ROWS = 96
OVERVIEW_FFT = 2048


def overview(audio: np.ndarray, sample_rate: float, cols: int = OVERVIEW_COLS,
             rows: int = OVERVIEW_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The whole song's spectrogram for the time view: uint8 [rows, cols] (low row first, 0 at
    RANGE_DB + 20 dB below the loudest cell) and the log-frequency row edges. One frame per
    column, evenly spaced over the song: a picture to find things by, not a measurement."""
    edges = row_edges(sample_rate, rows)
    bins, row = bin_rows(sample_rate, edges, OVERVIEW_FFT)
    n = audio.shape[1]
    mono = audio.mean(axis=0)
    starts = np.linspace(0, max(n - OVERVIEW_FFT, 0), cols).astype(np.int64)
    frames = np.zeros((cols, OVERVIEW_FFT))
    for i, s in enumerate(starts):
        seg = mono[s:s + OVERVIEW_FFT]
        frames[i, :seg.size] = seg
    spec = np.abs(np.fft.rfft(frames * np.hanning(OVERVIEW_FFT), axis=1)) ** 2
    power = np.zeros((rows, cols))
    np.add.at(power, row, spec[:, bins].T)
    power /= np.maximum(np.bincount(row, minlength=rows), 1)[:, None]
    db = 10.0 * np.log10(power + 1e-12)
    span = RANGE_DB + 20.0
    img = np.clip((db - (db.max() - span)) * (255.0 / span), 0, 255).astype(np.uint8)
    return img, edges


class Visuals:
    """The thread that turns ``engine``'s published frames into pictures for ``publish``
    (bytes -> None). It opts the engine in (``publish_frames``, which prepares it again: make
    this before the audio runs). ``engine`` None (a chain without a panslice stage): no
    pictures."""

    def __init__(self, engine, sample_rate: float, publish: Callable[[bytes], None], *,
                 levels: Callable[[], tuple[float, float]], position: Callable[[], float],
                 fps: float = FPS):
        fft = engine.fft_size if engine is not None else FFT
        if engine is not None:
            engine.publish_frames(RING)
        self.reader = FrameReader(engine) if engine is not None else None
        self.pano = Panogram(sample_rate, fft)
        self.publish = publish
        self.levels = levels
        self.position = position
        self.period = 1.0 / fps
        # how long without a new frame still means "frames are coming, only slower" (a large
        # hop, or large blocks that bring several frames at once)
        self.patience = max(PATIENCE_S, 2.0 * (engine.hop if engine is not None else FFT) / sample_rate)
        self.frames = 0
        self._got = np.zeros((RING, 2, fft // 2 + 1))
        self._last_new = -np.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panslice-visuals", daemon=True)

    def start(self) -> "Visuals":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def lost(self) -> int:
        """Engine frames never drawn (the thread came too late for them)."""
        return self.reader.lost if self.reader is not None else 0

    def step(self, now: float) -> bool:
        """Take the new frames into the picture; False when there is nothing to show."""
        m = self.reader.read(self._got) if self.reader is not None else 0
        if m == 0 and now - self._last_new > self.patience:
            return False
        if m:
            self._last_new = now
        self.pano.add(self._got[:m])
        return True

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t = max(next_t + self.period, time.monotonic())
            if not self.step(time.monotonic()):
                continue
            target, rest = self.levels()
            head = np.array([target, rest, self.position(), self.pano.top], np.float32)
            self.publish(head.tobytes() + self.pano.levels().tobytes() + self.pano.column().tobytes())
            self.frames += 1
