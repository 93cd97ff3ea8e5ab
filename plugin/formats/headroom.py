"""Full scale: what clips when a float render is written as integer samples, and how to avoid it.

A +6 dB lift (``vocal-lift``) can push a loud mix past full scale; an integer file (16/24-bit
wav, flac, aiff) or a lossy encoder then clips it. A bounce measures its render before writing:
if any sample would clip it lowers the whole render, said out loud, to a true peak of
:data:`CEILING_DB` (or, when asked, keeps the level and reports the clipped samples). A float
file (``--bit-depth 32`` wav) holds any level and is left alone. Renders that do not clip are
never touched.
"""

from __future__ import annotations

import math

import numpy as np

CEILING_DB = -1.0      # true-peak ceiling after the automatic gain (dBTP, as EBU R128 asks)
_OVERSAMPLE = 4        # ITU-R BS.1770's true-peak estimate: the peak of the 4x oversampled signal
_CHUNK = 1 << 16


def clipped(audio: np.ndarray) -> int:
    """How many samples of ``audio`` lie beyond full scale (would clip as integers)."""
    return int(np.count_nonzero(np.abs(audio) > 1.0))


def db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else float("-inf")


def true_peak(audio: np.ndarray) -> float:
    """The 4x oversampled peak of ``audio`` [shape=(..., n)] (linear, 1.0 = full scale),
    computed in chunks so that memory stays small for long files."""
    from scipy.signal import resample_poly

    peak = 0.0
    pad = 32
    for ch in audio.reshape(-1, audio.shape[-1]):
        for s in range(0, ch.size, _CHUNK):
            seg = ch[max(0, s - pad):s + _CHUNK + pad].astype(np.float64)
            peak = max(peak, float(np.abs(resample_poly(seg, _OVERSAMPLE, 1)).max()))
    return max(peak, float(np.abs(audio).max()))


def fit(audio: np.ndarray, keep_level: bool = False) -> tuple[np.ndarray, str | None]:
    """``audio`` ready for an integer or lossy file, and what was done (None: nothing).

    Nothing clips: unchanged. Else, with ``keep_level``, unchanged and the clipped samples are
    counted; without, the whole render (every stem alike, so stems still sum to the mix) is
    lowered to a true peak of :data:`CEILING_DB`.
    """
    over = clipped(audio)
    if not over:
        return audio, None
    peak = db(float(np.abs(audio).max()))
    if keep_level:
        return audio, f"{over} samples clipped (peak {peak:+.1f} dBFS)"
    gain = 10 ** (CEILING_DB / 20) / true_peak(audio)
    return (audio * np.float32(gain)).astype(np.float32), lowered(over, peak, gain)


def lowered(over: int, peak_db: float, gain: float) -> str:
    """What :func:`fit` says when it lowers a render by ``gain``."""
    return (f"would clip ({over} samples over full scale, peak {peak_db:+.1f} dBFS): lowered by "
            f"{-db(gain):.1f} dB to a true peak of {CEILING_DB:.1f} dBTP (--keep-level keeps the "
            "level and clips; --bit-depth 32 writes float, which does not clip)")


class TruePeak:
    """:func:`true_peak` of a signal [shape=(c, n)] given in order in pieces of ``_CHUNK``
    samples (the last one shorter), the same value as for the whole: each piece is measured
    once the next has come, with the same ``pad`` samples either side."""

    PAD = 32

    def __init__(self) -> None:
        self.peak = 0.0
        self._before = self._chunk = None

    def add(self, chunk: np.ndarray) -> None:
        if self._chunk is not None:
            self._measure(chunk[:, :self.PAD])
        self._chunk = chunk.copy()

    def value(self) -> float:
        """The true peak of all pieces (without the plain peak, which the caller has)."""
        if self._chunk is not None:
            self._measure(self._chunk[:, :0])
            self._chunk = None
        return self.peak

    def _measure(self, after: np.ndarray) -> None:
        from scipy.signal import resample_poly

        parts = [self._chunk, after] if self._before is None else [self._before, self._chunk, after]
        for seg in np.concatenate(parts, axis=1):
            seg = seg.astype(np.float64)
            self.peak = max(self.peak, float(np.abs(resample_poly(seg, _OVERSAMPLE, 1)).max()))
        self._before = self._chunk[:, -self.PAD:]


class ClipMeter:
    """Counts what clips in a stream of blocks (live output), cheaply: the count is taken only
    in blocks whose peak is over full scale."""

    def __init__(self) -> None:
        self.samples = 0
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        peak = max(float(block.max()), -float(block.min())) if block.size else 0.0  # no temporaries
        if peak > 1.0:
            self.samples += clipped(block)
            self.peak = max(self.peak, peak)

    def summary(self) -> str | None:
        if not self.samples:
            return None
        return (f"{self.samples} samples clipped (peak {db(self.peak):+.1f} dBFS): lower "
                "target_gain_db or rest_gain_db, or add a Limiter step (--chain)")
