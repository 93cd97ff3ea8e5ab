"""The ML prior in a bounce: Spleeter's vocal mask, fed to the engine patch by patch.

Spleeter sees the whole file at its own STFT grid (4096/1024 at 44.1 kHz); the engine runs at
any fft_size, hop and sample rate. :class:`PriorFeed` maps each Spleeter patch onto the
engine's frames and hands the engine only the rows it is about to need, so memory stays at
about two patches whatever the file's length.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ..dsp import spleeter as S
from ..dsp.engine import Engine
from . import model


_net: S.Spleeter | None = None


def network() -> S.Spleeter:
    """The model, loaded once per process (the files of one bounce share it)."""
    global _net
    if _net is None:
        _net = S.Spleeter(model.load())
    return _net


class PriorFeed:
    """Keeps ``eng``'s prior rows ahead of the audio (``cover`` before each block)."""

    def __init__(self, eng: Engine, audio: np.ndarray, sample_rate: float,
                 net: S.Spleeter | None = None):
        self.eng = eng
        self.net = net if net is not None else network()
        self._chunks = self._rows_by_patch(S.resample_to_model_rate(audio, sample_rate), sample_rate)
        self._start = 0
        self._rows = np.zeros((0, eng.fft_size // 2 + 1), np.float32)

    def _rows_by_patch(self, x: np.ndarray, sr: float) -> Iterator[tuple[int, np.ndarray]]:
        n, hop = self.eng.fft_size, self.eng.hop
        for t0, vocal in self.net.masks(x):
            # Engine frames whose centre may fall in Spleeter frames t0 .. t0 + PATCH.
            lo, hi = ((np.array([t0, t0 + S.PATCH]) - S.FRAME / (2 * S.HOP)) * S.HOP
                      / S.SAMPLE_RATE * sr + n / 2) / hop - 1
            cand = np.arange(max(math.floor(lo) - 1, 0), math.ceil(hi) + 2)
            frames, rows = S.prior_rows(vocal, t0, cand, n, hop, sr)
            if frames.size:
                yield int(frames[0]), rows

    def cover(self, end: int) -> None:
        """Make sure the engine has prior rows for every frame that input up to sample ``end``
        completes (frames 0 .. end // hop - 1), dropping rows it has already used."""
        need = end // self.eng.hop
        while self._start + len(self._rows) < need:
            try:
                f0, rows = next(self._chunks)
            except StopIteration:
                return
            used = min(max(self.eng.frames_processed - self._start, 0), len(self._rows))
            tail = self._rows[used:]
            self._start = self._start + used if len(tail) else f0
            self._rows = np.concatenate([tail, rows]) if len(tail) else rows
            self.eng.set_prior(self._rows, self._start)
