"""The live panogram and meters, binned off the audio thread and sent at a capped rate.

A thread wakes up to ``fps`` times a second, takes the newest input from the monitor's tap
ring (older samples it skips: the picture decimates, the audio loses nothing), analyses one
frame with :mod:`panslice.dsp.panogram`'s functions, bins its energy by azimuth and
log-frequency row (the axes of ``analyze``'s picture) and holds peaks with a release, so the
picture decays instead of flickering. Each frame goes to ``publish`` as bytes: a header of
four float32 (slice RMS, rest RMS, file position in s or -1, the picture's top in dB), then
``rows x AZ_BINS`` uint8 levels over the bottom ``RANGE_DB`` below that top, low row first,
then ``rows`` uint8 levels of this frame alone, every azimuth together (over ``RANGE_DB``
below their own slowly falling top): the newest column of the scrolling spectrogram that the page draws on live input.

Taking the magnitudes and azimuths from the engine's own frames, instead of a second FFT of
the input here, is the next step (the engine's kernel is being reworked as this is written).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from ...dsp import panogram as pg

FPS = 30.0
FFT = 4096
ROWS = 64
LOW_HZ = 30.0
AZ_BINS = pg.AZ_BINS
RANGE_DB = 60.0
RELEASE_DB = 1.5      # per frame: the held picture falls 45 dB a second at 30 fps
TOP_RELEASE_DB = 0.1  # the scale's top follows a quieter passage slowly


def row_edges(sample_rate: float, rows: int = ROWS) -> np.ndarray:
    """Log-frequency row edges, 30 Hz to Nyquist."""
    return np.geomspace(LOW_HZ, sample_rate / 2, rows + 1)


def bin_rows(sample_rate: float, edges: np.ndarray, fft: int = FFT) -> tuple[np.ndarray, np.ndarray]:
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
    """Bins frames of stereo input into a decaying azimuth x log-frequency picture."""

    def __init__(self, sample_rate: float, rows: int = ROWS):
        self.edges = row_edges(sample_rate, rows)
        self.rows = rows
        self._bins, self._row = bin_rows(sample_rate, self.edges)
        counts = np.bincount(self._row, minlength=rows).astype(np.float64)
        self._per_row = np.repeat(1.0 / np.maximum(counts, 1), AZ_BINS)
        self.held = np.full(rows * AZ_BINS, -200.0)
        self.top = -200.0
        self.now = np.full(rows, -200.0)  # this frame's level per row (dB), not held
        self.now_top = -200.0

    def add(self, frame: np.ndarray) -> None:
        """One frame of input [shape=(2, FFT)] into the held picture."""
        az, e = pg.azimuth_energy(pg.stft(frame, FFT, FFT))
        az, e = az[0, self._bins], e[0, self._bins]
        col = np.clip(((az + 1.0) * (0.5 * AZ_BINS)).astype(np.int64), 0, AZ_BINS - 1)
        key = self._row * AZ_BINS + col
        power = np.bincount(key, e, self.rows * AZ_BINS) * self._per_row
        self.now = 10.0 * np.log10(power.reshape(self.rows, AZ_BINS).sum(axis=1) + 1e-12)
        self.now_top = max(float(self.now.max()), self.now_top - TOP_RELEASE_DB)
        db = 10.0 * np.log10(power + 1e-12)
        np.maximum(db, self.held - RELEASE_DB, out=self.held)
        self.top = max(float(self.held.max()), self.top - TOP_RELEASE_DB)

    def levels(self) -> np.ndarray:
        """The held picture as uint8 [rows * AZ_BINS], 0 at RANGE_DB below the top."""
        return _scaled(self.held, self.top)

    def column(self) -> np.ndarray:
        """This frame's level per row as uint8 [rows], 0 at RANGE_DB below its top."""
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
    """The thread that turns the monitor's tap into frames for ``publish`` (bytes -> None)."""

    def __init__(self, monitor, sample_rate: float, publish: Callable[[bytes], None], *,
                 levels: Callable[[], tuple[float, float]], position: Callable[[], float],
                 fps: float = FPS):
        self.monitor = monitor
        self.pano = Panogram(sample_rate)
        self.publish = publish
        self.levels = levels
        self.position = position
        self.period = 1.0 / fps
        self.frames = 0
        self._hist = np.zeros((2, FFT), np.float32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panslice-visuals", daemon=True)

    def start(self) -> "Visuals":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _take(self) -> bool:
        """Move the newest tapped samples into the history; False when none came."""
        tap = self.monitor.tap
        n = tap.available
        if n == 0:
            return False
        if n > FFT:
            tap.skip(n - FFT)
            n = FFT
        h = self._hist
        h[:, :FFT - n] = h[:, n:]
        tap.read(h[:, FFT - n:])
        return True

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t = max(next_t + self.period, time.monotonic())
            if not self._take():
                continue
            self.pano.add(self._hist)
            target, rest = self.levels()
            head = np.array([target, rest, self.position(), self.pano.top], np.float32)
            self.publish(head.tobytes() + self.pano.levels().tobytes() + self.pano.column().tobytes())
            self.frames += 1
