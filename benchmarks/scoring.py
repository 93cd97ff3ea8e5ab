"""Separation scores shared by the quality benchmark and the quality-floor tests.

SDR is bss_eval's signal-to-distortion ratio with a 512-tap distortion filter (fast_bss_eval),
computed per channel with the true stem as the only reference and averaged over the two
channels. SI-SDR is the scale-invariant version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHARED_REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "real"


def tracks(folder: Path = SHARED_REAL) -> list[Path]:
    """Track folders (each with mixture.wav, vocals.wav, accompaniment.wav), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "mixture.wav").is_file())


def load(path: Path) -> tuple[np.ndarray, float]:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(x.T), float(sr)


def _per_channel(ref: np.ndarray, est: np.ndarray, fn) -> float:
    n = min(ref.shape[-1], est.shape[-1])
    ref = np.asarray(ref[:, :n], np.float64)
    est = np.asarray(est[:, :n], np.float64)
    if est.shape[0] == 1:
        est = np.repeat(est, ref.shape[0], axis=0)
    return float(np.mean([fn(ref[c], est[c]) for c in range(ref.shape[0])]))


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    import fast_bss_eval

    return _per_channel(ref, est, lambda r, e: float(
        fast_bss_eval.sdr(r[None], e[None], filter_length=512, clamp_db=100)[0]))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    def one(r, e):
        a = np.dot(e, r) / max(np.dot(r, r), 1e-20)
        s = a * r
        return 10 * np.log10(max(np.dot(s, s), 1e-20) / max(np.dot(e - s, e - s), 1e-20))

    return _per_channel(ref, est, one)

