"""Test talkers made here, deterministic: synthetic voiced speech or espeak-ng, placed by level
(a pan pot) or by delay (two spaced microphones). No recordings: nothing licensed to carry."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

LEVEL_PANS = (-0.6, 0.0, 0.6)
DELAYS = (-10, 0, 8)   # samples by which the left channel hears each talker later


def synthetic(sr: float, seconds: float, seed: int, f0: float) -> np.ndarray:
    """A voiced 'talker': harmonics of a gliding pitch under moving formants, in syllables of
    120 to 300 ms with short pauses (sparse in time and frequency, as speech is)."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.7) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    env = np.zeros(n)
    formant = np.zeros((2, n))
    at = int(rng.uniform(0, 0.2) * sr)
    while at < n:
        length = int(rng.uniform(0.12, 0.3) * sr)
        seg = slice(at, min(at + length, n))
        env[seg] = np.hanning(length)[:seg.stop - seg.start]
        formant[:, seg] = np.array([[rng.uniform(300, 900)], [rng.uniform(900, 2500)]])
        at += length + int(rng.uniform(0.03, 0.15) * sr)
    y = np.zeros(n)
    for h in range(1, int(sr / 2 / (f0 * 1.1))):
        fh = h * pitch
        gain = sum(np.exp(-((fh - formant[i]) / 200.0) ** 2) for i in range(2)) + 0.05
        y += gain / h * np.sin(h * phase)
    y *= env
    return (0.1 * y / np.sqrt(np.mean(y ** 2))).astype(np.float64)


def espeak(text: str, sr: float, voice: str = "en") -> np.ndarray | None:
    """``text`` spoken by espeak-ng, resampled to ``sr``; None where espeak-ng is missing."""
    if not shutil.which("espeak-ng"):
        return None
    import soundfile as sf
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        y, rate = sf.read(str(path), dtype="float64")
    g = np.gcd(int(sr), int(rate))
    y = resample_poly(y, int(sr) // g, int(rate) // g)
    return 0.1 * y / np.sqrt(np.mean(y ** 2))


def by_level(sources: list[np.ndarray], pans=LEVEL_PANS) -> list[np.ndarray]:
    """Each source's stereo image through a constant-power pan pot."""
    out = []
    for s, p in zip(sources, pans):
        t = (p + 1) * np.pi / 4
        out.append(np.stack([np.cos(t) * s, np.sin(t) * s]))
    return out


def by_delay(sources: list[np.ndarray], delays=DELAYS) -> list[np.ndarray]:
    """Each source's stereo image at two spaced microphones: the same level, the left channel
    ``d`` samples later (d < 0: the right one later)."""
    out = []
    for s, d in zip(sources, delays):
        late = np.concatenate([np.zeros(abs(d)), s[:len(s) - abs(d)]])
        left, right = (late, s) if d > 0 else (s, late)
        out.append(np.stack([left, right]) / np.sqrt(2))
    return out


def three(sr: float, seconds: float = 6.0, spoken: bool = False) -> list[np.ndarray]:
    """Three talkers of equal level: espeak-ng voices if ``spoken`` (and installed), else
    synthetic ones at 110, 170 and 240 Hz."""
    if spoken:
        lines = ("The quick brown fox jumps over the lazy dog near the river bank.",
                 "She sells sea shells by the sea shore every summer morning.",
                 "Peter Piper picked a peck of pickled peppers for his sister.")
        voices = ("en+m3", "en+f2", "en+m7")
        said = [espeak(t, sr, v) for t, v in zip(lines, voices)]
        if all(s is not None for s in said):
            n = int(sr * seconds)
            return [np.pad(s, (0, max(0, n - len(s))))[:n] for s in said]
    return [synthetic(sr, seconds, seed, f0) for seed, f0 in enumerate((110.0, 170.0, 240.0))]


ROOM_M = (6.0, 5.0, 3.0)         # a meeting room, length x width x height
TABLE_M = (3.1, 2.4, 1.2)        # the recorder on the table, off the room's centre
ANGLES = (-60.0, 0.0, 45.0)      # the talkers around it, degrees (0: straight ahead, -: left)
DISTANCE_M = 1.2


def _positions(spacing_m: float, angles=ANGLES, distance_m: float = DISTANCE_M):
    """The two microphones (left at -x) and the talkers in front of them (+y)."""
    centre = np.array(TABLE_M)
    mics = np.stack([centre - [spacing_m / 2, 0, 0], centre + [spacing_m / 2, 0, 0]])
    talkers = [centre + distance_m * np.array([np.sin(np.radians(a)), np.cos(np.radians(a)), 0])
               for a in angles]
    return mics, talkers


def room_delays_ms(spacing_m: float, angles=ANGLES, distance_m: float = DISTANCE_M) -> list[float]:
    """Each talker's direct-path delay, how much later the left microphone hears it (ms)."""
    mics, talkers = _positions(spacing_m, angles, distance_m)
    return [1e3 * (np.linalg.norm(t - mics[0]) - np.linalg.norm(t - mics[1])) / 343.0
            for t in talkers]


def in_room(sources: list[np.ndarray], sr: float, rt60: float, spacing_m: float,
            angles=ANGLES, distance_m: float = DISTANCE_M) -> list[np.ndarray]:
    """Each source's image at two omni microphones ``spacing_m`` apart in a shoebox room
    (pyroomacoustics' image sources; rt60 0: the direct path alone), as long as the source.
    The image with the room's reflections is the reference a separation is scored against."""
    import pyroomacoustics as pra
    from scipy.signal import fftconvolve

    if rt60 > 0:
        absorption, order = pra.inverse_sabine(rt60, ROOM_M)
        room = pra.ShoeBox(ROOM_M, fs=int(sr), materials=pra.Material(absorption),
                           max_order=order)
    else:
        room = pra.ShoeBox(ROOM_M, fs=int(sr), max_order=0)
    mics, talkers = _positions(spacing_m, angles, distance_m)
    room.add_microphone_array(mics.T)
    for t in talkers:
        room.add_source(t)
    room.compute_rir()
    n = len(sources[0])
    return [np.stack([fftconvolve(s, room.rir[m][k])[:n] for m in range(2)]) / np.sqrt(2)
            for k, s in enumerate(sources)]
