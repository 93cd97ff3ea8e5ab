"""bounce --sources: find the sources of a file by direction and write one stem each.

The directions come from dsp.sources (a level x delay histogram, fed block by block); each
source's stem is the engine's slice on it at unity gain, and ``rest`` is what no slice took,
so the stems sum back to the input.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ...dsp import params as P
from ...dsp.sources import DirectionHistogram, Source
from ..formats import audiofile, headroom
from ..formats.atomic import published_together
from .bounce import render

FEED = 65536  # samples per block fed to the histogram


def histogram(audio: np.ndarray, sample_rate: float) -> DirectionHistogram:
    """The level x delay histogram of ``audio`` [shape=(2, n)], fed in blocks."""
    h = DirectionHistogram(sample_rate)
    for at in range(0, audio.shape[1], FEED):
        h.add(audio[:, at:at + FEED])
    return h


def find(audio: np.ndarray, sample_rate: float, count: int | None = None) -> list[Source]:
    """The sources of ``audio`` [shape=(2, n)], left to right (the ``count`` strongest)."""
    return histogram(audio, sample_rate).sources(count)


def stems(audio: np.ndarray, sample_rate: float, base: P.ParamSet,
          found: Sequence[Source]) -> np.ndarray:
    """One slice per source (``base`` with the source's settings, at unity), then the rest:
    shape (len(found) + 1, 2, n), summing to ``audio``."""
    out = np.empty((len(found) + 1,) + audio.shape, np.float32)
    for k, s in enumerate(found):
        ps = base.copy()
        ps.update(s.settings)
        out[k] = render(audio, sample_rate, ps, split=True, unity=True)[0]
    out[-1] = audio - out[:-1].sum(axis=0)
    return out


def names(count: int, fmt: str = ".wav") -> list[str]:
    return [f"source_{k + 1}{fmt}" for k in range(count)] + [f"rest{fmt}"]


def read(inp: Path, channels=None) -> tuple[np.ndarray, float]:
    """``inp`` as stereo, or an error for a mono input: sources are found by direction."""
    audio, sr, mono = audiofile.read_input(inp, channels)
    if mono:
        raise audiofile.AudioFileError(
            f"{inp}: is mono; there are no directions to find sources by (without --sources, "
            "the ML prior separates a mono file)")
    return audio, sr


def bounce(inp: Path, folder: Path, base: P.ParamSet, count: int | None, *,
           bit_depth: int | None = None, channels=None, overwrite: bool = False,
           fmt: str = ".wav", keep_level: bool = False) -> tuple[list[Path], list[Source]]:
    """Find the sources of ``inp`` and write their stems into ``folder``; returns the paths
    written and the sources."""
    audio, sr = read(inp, channels)
    found = find(audio, sr, count)
    paths = [folder / name for name in names(len(found), fmt)]
    for p in paths:
        audiofile.check_output(p, [inp], overwrite, bit_depth)
    depth = bit_depth or audiofile.depth_for(paths[0], audiofile.source_bit_depth(inp))
    out = stems(audio, sr, base, found)
    if not audiofile.is_float(paths[0], depth):
        out, note = headroom.fit(out, keep_level)
        if note:
            warnings.warn(f"{inp}: {note}")
    with published_together(folder):   # the set whole or none of it, as bounce --stems
        for p, a in zip(paths, out):
            audiofile.write_stereo(p, a, sr, depth)
    return paths, found


def describe(found: Sequence[Source]) -> list[str]:
    """A line per source: where it is, its share, and the --set arguments that select it."""
    return [f"source_{k + 1}: azimuth {s.azimuth:+.2f}, delay {s.delay_ms:+.3f} ms, "
            f"{100 * s.share:.0f} % of the bins: "
            + " ".join(f"--set {n}={P.fmt(v)}" for n, v in s.settings.items())
            for k, s in enumerate(found)]
