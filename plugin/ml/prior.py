"""The ML prior: Spleeter's vocal mask as the engine's prior rows, one patch at a time.

Spleeter runs on its own STFT grid (4096/1024 at 44.1 kHz); the engine at any fft_size, hop
and rate. :class:`Patcher` cuts the input (at the engine's rate) into Spleeter patches and
turns each into engine rows: it is the one place where a patch's mask becomes rows, shared by
the bounce (:class:`PriorFeed`, a file read ahead, memory of about two patches) and the look-ahead
of a chain's stage (:mod:`.lookahead`, the same patches from its input as it arrives), so both
give the same rows for the same audio. :class:`PatchStream` (input -> patches) and
:class:`RowWindow` (the rows the engine may still need) are shared by both too.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Callable, Iterator, Mapping

import numpy as np

from ...dsp import ml_spatial, spleeter as S
from ...dsp.engine import Engine
from ..formats.audiostream import ArraySource
from . import model

RESAMPLE_MARGIN = 128   # input samples read beyond a patch at other rates: the resampler's reach

_net: S.Spleeter | None = None
_pool: ThreadPoolExecutor | None | bool = False


def network() -> S.Spleeter:
    """The model, loaded once per process (the files of one bounce share it)."""
    global _net
    if _net is None:
        _net = S.Spleeter(model.load())
    return _net


def _blas_thread_setter() -> Callable[[int], int] | None:
    """OpenBLAS's per-thread thread count (``openblas_set_num_threads_local``) from numpy's
    own BLAS, or None where that BLAS is not an OpenBLAS that has it."""
    import numpy

    libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "*openblas*"))
    for path in [None] + libs:
        try:
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local")
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None


def stem_map():
    """A ``map`` that runs the two stems' U-Nets at once, one core each (BLAS held to one
    thread in each), or None (the stems run in turn, BLAS threaded as configured) where BLAS
    cannot be held to one thread per caller."""
    global _pool
    if _pool is False:
        setter = _blas_thread_setter()
        _pool = None if setter is None else ThreadPoolExecutor(
            len(S.STEMS), thread_name_prefix="panslice-stem", initializer=lambda: setter(1))
    return None if _pool is None else _pool.map


def _forget_pool() -> None:
    global _pool
    _pool = False


os.register_at_fork(after_in_child=_forget_pool)  # a forked bounce worker makes its own threads


class Patcher:
    """Patch ``k`` of ``patch`` Spleeter frames (a multiple of 64) -> the engine's prior rows.

    ``span(k)`` says which input samples (engine rate, absolute) patch k reads, ``rows(k, seg)``
    computes its rows from them. Input at another rate than 44.1 kHz is resampled per patch,
    with ``RESAMPLE_MARGIN`` samples on each side so the cut does not show.
    """

    def __init__(self, net, fft_size: int, hop: int, sample_rate: float, patch: int = S.PATCH,
                 params: Mapping[str, float] | None = None):
        if patch <= 0 or patch % 64:
            raise ValueError(f"ML patch must be a positive multiple of 64 frames, got {patch}")
        self.net, self.fft_size, self.hop, self.sr, self.patch = net, fft_size, hop, sample_rate, patch
        r = Fraction(S.SAMPLE_RATE, int(round(sample_rate))).limit_denominator(1000)
        self.up, self.down = r.numerator, r.denominator
        self.run = stem_map()
        # ml_contrast, ml_spatial and ml_bias, read at each patch (a live knob acts from the
        # next one).
        self.params = params
        self.spatial = ml_spatial.SpatialPrior(S.BINS, S.SAMPLE_RATE / S.FRAME)

    def n_patches(self, n_samples: int) -> int:
        """Patches Spleeter needs for ``n_samples`` of input (its last one zero-padded)."""
        n44 = -(-n_samples * self.up // self.down)
        return -(-S.Spleeter.n_frames(n44) // self.patch)

    def _span44(self, k: int) -> tuple[int, int]:
        return S.Spleeter.span(k * self.patch, self.patch)

    def span(self, k: int) -> tuple[int, int]:
        """Input samples [lo, hi) (engine rate) that patch ``k`` reads."""
        lo, hi = self._span44(k)
        if self.up == self.down:
            return lo, hi
        lo = math.floor((lo * self.down / self.up - RESAMPLE_MARGIN) / self.down) * self.down
        return lo, math.ceil(hi * self.down / self.up) + RESAMPLE_MARGIN

    def first_frame(self, k: int) -> int:
        """The first engine frame whose row patch ``k`` gives (as ``rows`` maps them: the
        frame's centre falls in the patch's Spleeter frames)."""
        t0 = k * self.patch - S.FRAME / (2 * S.HOP)
        return max(math.ceil((t0 * S.HOP * self.sr / S.SAMPLE_RATE + self.fft_size / 2) / self.hop) - 1, 0)

    def mask(self, k: int, seg: np.ndarray) -> np.ndarray:
        """Spleeter's vocal mask of patch ``k`` [shape=(patch, BINS, 2)] from ``seg``, the input
        samples ``span(k)`` (zeros where they lie outside the signal)."""
        lo, hi = self._span44(k)
        if self.up != self.down:
            from scipy.signal import resample_poly

            at = self.span(k)[0] * self.up // self.down          # 44.1 kHz index of seg[0]
            seg = resample_poly(seg, self.up, self.down, axis=1)[:, lo - at:hi - at]
        mag = S.magnitude(seg, self.patch)
        vocal = self.net.vocal_mask(mag, self.run)
        p = self.params
        return vocal if p is None else self.spatial.reshape(
            vocal, mag, p["ml_contrast"], p["ml_spatial"], p["ml_bias"])

    def rows(self, k: int, seg: np.ndarray) -> tuple[int, np.ndarray]:
        """Patch ``k``'s prior rows: (first engine frame, rows [shape=(R, fft_size//2 + 1)]),
        R possibly 0. This is the one place a patch's mask becomes engine rows."""
        t0 = k * self.patch
        vocal = self.mask(k, seg)
        n, hop, sr = self.fft_size, self.hop, self.sr
        # Engine frames whose centre may fall in Spleeter frames t0 .. t0 + patch.
        lo, hi = ((np.array([t0, t0 + self.patch]) - S.FRAME / (2 * S.HOP)) * S.HOP
                  / S.SAMPLE_RATE * sr + n / 2) / hop - 1
        cand = np.arange(max(math.floor(lo) - 1, 0), math.ceil(hi) + 2)
        frames, rows = S.prior_rows(vocal, t0, cand, n, hop, sr)
        return (int(frames[0]) if frames.size else 0), rows


class PatchStream:
    """Spleeter's patches of input that arrives in pieces (a chain stage's, block by block) or
    whole (a bounce's file): ``push`` input, and once ``have`` reaches ``needs()``,
    ``next_rows()`` gives the next patch's rows. Keeps only the input later patches read."""

    def __init__(self, patcher: Patcher, audio: np.ndarray | None = None):
        self.patcher = patcher
        self.k = 0                                        # the next patch
        self._input = np.zeros((2, 0), np.float32) if audio is None else audio
        self._at = 0                                      # input index of _input[:, 0]

    @property
    def have(self) -> int:
        """Input samples pushed so far."""
        return self._at + self._input.shape[1]

    def needs(self) -> int:
        """Input samples the next patch reads (it can be computed once ``have`` reaches this)."""
        return self.patcher.span(self.k)[1]

    def push(self, x: np.ndarray) -> None:
        """Append input [shape=(2, m)] (copied: the caller may reuse ``x``)."""
        self._input = np.concatenate([self._input, x], axis=1)

    def next_rows(self) -> tuple[int, np.ndarray]:
        """The next patch's rows, as :meth:`Patcher.rows` gives them; input it lacks is zeros."""
        pt = self.patcher
        lo, hi = pt.span(self.k)
        f0, rows = pt.rows(self.k, S.segment(self._input, lo - self._at, hi - self._at))
        self.k += 1
        drop = max(0, min(pt.span(self.k)[0] - self._at, self._input.shape[1]))
        self._input, self._at = self._input[:, drop:], self._at + drop
        return f0, rows


class RowWindow:
    """The prior rows an engine may still need: those from the frame it is on, then each new
    patch's (contiguous with them). Memory stays at about two patches whatever the length."""

    def __init__(self, bins: int):
        self.rows = np.zeros((0, bins), np.float32)
        self.start = 0                                    # the engine frame of rows[0]

    @property
    def end(self) -> int:
        """The first engine frame past the rows."""
        return self.start + len(self.rows)

    def add(self, first: int, rows: np.ndarray, frames_processed: int) -> None:
        """Append ``rows`` (engine frames ``first`` on), dropping the rows of frames the engine
        has finished (``frames_processed``)."""
        used = min(max(frames_processed - self.start, 0), len(self.rows))
        tail = self.rows[used:]
        self.start = self.start + used if len(tail) else first
        self.rows = np.concatenate([tail, rows]) if len(tail) else rows


class PriorFeed:
    """Keeps ``eng``'s prior rows ahead of the audio (``cover`` before each block), computing
    Spleeter's patches one by one as they are needed from ``audio`` [shape=(2, n), engine
    rate], or from a source read ahead of the render (an ``audiostream`` source from the top:
    memory of about two patches, whatever the length)."""

    def __init__(self, eng: Engine, audio, sample_rate: float,
                 net: S.Spleeter | None = None, patch: int = S.PATCH):
        self.eng = eng
        self.patcher = Patcher(net if net is not None else network(), eng.fft_size, eng.hop,
                               sample_rate, patch, eng.params)
        source = ArraySource(audio, sample_rate) if isinstance(audio, np.ndarray) else audio
        self._chunks = self._rows_by_patch(source)
        self._window = RowWindow(eng.fft_size // 2 + 1)

    def _rows_by_patch(self, source) -> Iterator[tuple[int, np.ndarray]]:
        stream = PatchStream(self.patcher)
        n = source.frames
        for _ in range(self.patcher.n_patches(n)):
            while stream.have < min(stream.needs(), n):
                stream.push(source.read(min(stream.needs(), n) - stream.have))
            f0, rows = stream.next_rows()
            if len(rows):
                yield f0, rows
        source.close()

    def cover(self, end: int) -> None:
        """Make sure the engine has prior rows for every frame that input up to sample ``end``
        completes (frames 0 .. end // hop - 1), dropping rows it has already used."""
        need = end // self.eng.hop
        win = self._window
        while win.end < need:
            try:
                f0, rows = next(self._chunks)
            except StopIteration:
                return
            win.add(f0, rows, self.eng.frames_processed)
            self.eng.set_prior(win.rows, win.start)
