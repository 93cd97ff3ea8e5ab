"""The embedded demo: a small stereo mix made on the spot, with its true stems.

No file ships and nothing is downloaded: a sung-vowel-like voice (harmonics with vibrato,
phrased into notes) sits in the centre, as a lead vocal does; a bass and a kick sit in the
centre below the vocal band; a chord pad is panned left, a plucked arpeggio right and a hi-hat
further right. Every part is deterministic, so the demo scores the same on every machine.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 44100
SECONDS = 8.0


def _pan(mono: np.ndarray, p: float) -> np.ndarray:
    t = (p + 1.0) * np.pi / 4.0
    return np.stack([np.cos(t) * mono, np.sin(t) * mono])


def _env(n: int, attack: int, release: int) -> np.ndarray:
    e = np.ones(n)
    a, r = min(attack, n), min(release, n)
    e[:a] = np.linspace(0, 1, a)
    e[n - r:] *= np.linspace(1, 0, r)
    return e


def _voice(sr: int, n: int, rng: np.random.Generator) -> np.ndarray:
    melody = [220.0, 246.9, 261.6, 293.7, 329.6, 293.7, 261.6, 246.9]
    note = n // len(melody)
    t = np.arange(note) / sr
    out = np.zeros(n)
    formants = np.array([700.0, 1220.0, 2600.0])
    for i, f0 in enumerate(melody):
        vib = 1.0 + 0.012 * np.sin(2 * np.pi * 5.5 * t)
        phase = 2 * np.pi * np.cumsum(f0 * vib) / sr
        tone = np.zeros(note)
        for h in range(1, 30):
            fh = h * f0
            if fh > sr / 2.5:
                break
            # vowel colour: harmonics near the formants are louder
            gain = sum(1.0 / (1.0 + ((fh - f) / 120.0) ** 2) for f in formants) / h ** 0.5
            tone += gain * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
        out[i * note:(i + 1) * note] = tone * _env(note, sr // 40, sr // 8)
    return 0.25 * out / np.abs(out).max()


def _tones(sr: int, n: int, freqs: list[float], hits: int, decay: float) -> np.ndarray:
    out = np.zeros(n)
    step = n // hits
    t = np.arange(step) / sr
    for i in range(hits):
        f = freqs[i % len(freqs)]
        out[i * step:(i + 1) * step] = np.sin(2 * np.pi * f * t) * np.exp(-t / decay)
    return out


def make(sr: int = SAMPLE_RATE, seconds: float = SECONDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (mixture, vocals, accompaniment), each float32 [shape=(2, n)]."""
    rng = np.random.default_rng(20261127)
    n = int(sr * seconds)
    vocals = _pan(_voice(sr, n, rng), 0.0)
    bass = 0.22 * _tones(sr, n, [55.0, 55.0, 73.4, 65.4], 16, 0.35)
    kick = 0.3 * _tones(sr, n, [50.0], 16, 0.08)
    pad = sum(0.05 * np.sin(2 * np.pi * f * np.arange(n) / sr) for f in (196.0, 246.9, 293.7, 392.0))
    pluck = 0.12 * _tones(sr, n, [523.3, 659.3, 784.0, 1046.5], 64, 0.12)
    hat_env = np.tile(np.exp(-np.arange(n // 32) / (0.01 * sr)), 32)
    hat = 0.03 * rng.standard_normal(n) * np.pad(hat_env, (0, n - hat_env.size))
    accomp = (_pan(bass + kick, 0.0) + _pan(pad, -0.6) + _pan(pluck, 0.55)
              + _pan(hat, 0.8))
    mix = vocals + accomp
    return mix.astype(np.float32), vocals.astype(np.float32), accomp.astype(np.float32)


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain signal-to-distortion ratio in dB (no bss_eval projection): 10 log10 |s|^2 / |s - s'|^2."""
    err = np.sum((reference - estimate) ** 2)
    return float(10 * np.log10(np.sum(reference ** 2) / max(err, 1e-20)))
