"""Offline bounce: render a whole file (or array) through the engine, latency-compensated.

The output has the input's length and is sample-aligned with it. Parameter changes stamped
with sample positions (recorded automation) are applied exactly there, by cutting the stream
at each stamp, so a bounce reproduces what was heard live.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ...dsp import params as P
from ...dsp.engine import Engine
from ..formats import audiofile
from ..formats.automation import Automation
from ..formats.presets import Preset

BLOCK = 8192


def render(audio: np.ndarray, sample_rate: float, params: P.ParamSet, *, split: bool = False,
           unity: bool = False, changes: Iterable[P.Change] = (),
           progress: Callable[[int], None] | None = None,
           edits: np.ndarray | None = None) -> np.ndarray:
    """Process ``audio`` [shape=(2, n)] whole and return the aligned result.

    Returns shape (2, n) (the mixed output) or, with ``split``, (2, 2, n): ``[0]`` the slice and
    ``[1]`` the rest. With ``unity`` every gain is ignored, so the two always sum to the input.
    ``progress`` is called with the number of input samples done after each block.
    ``edits`` are hand-edit regions (``Engine.set_edits`` rows; see plugin/formats/edits.py); they apply
    with ``unity`` too, so edited stems no longer sum to the input inside the regions.
    """
    eng = Engine(params, unity=unity).prepare(sample_rate, BLOCK)
    if edits is not None:
        eng.set_edits(edits)
    lat = eng.latency_samples
    n = audio.shape[1]
    total = n + lat
    outs = 2 if split else 1
    result = np.zeros((outs, 2, n), np.float32)
    block_out = np.zeros((outs, 2, BLOCK), np.float32)
    pad = np.zeros((2, BLOCK), np.float32)
    pending = sorted(changes, key=lambda c: c[0])
    feed = None
    if params["ml_prior"] > 0 or any(c[1] == "ml_prior" and c[2] > 0 for c in pending):
        from ..ml.prior import PriorFeed  # Spleeter's vocal mask, patch by patch (needs the model)

        feed = PriorFeed(eng, audio, sample_rate)
    ci = 0
    pos = 0
    while pos < total:
        while ci < len(pending) and pending[ci][0] <= pos:
            eng.set(pending[ci][1], pending[ci][2])
            ci += 1
        end = min(pos + BLOCK, total)
        if ci < len(pending):
            end = min(end, max(pending[ci][0], pos + 1))
        m = end - pos
        if pos >= n:
            x = pad[:, :m]
        elif end > n:
            x = np.concatenate([audio[:, pos:], pad[:, : end - n]], axis=1)
        else:
            x = audio[:, pos:end]
        if feed is not None:
            feed.cover(end)
        # A contiguous view even for a short last block: a strided one would make numba load a
        # second compiled specialisation of the kernel (about 0.3 s of start-up).
        o = block_out.reshape(-1)[: outs * 2 * m].reshape(outs, 2, m)
        x = np.ascontiguousarray(x)
        if split:
            eng.process_split(x, o)
        else:
            eng.process(x, o[0])
        # Output sample j is input sample j - lat: keep those that land inside [0, n).
        lo = max(pos - lat, 0)
        hi = end - lat
        if hi > lo:
            result[:, :, lo:hi] = o[:, :, lo - (pos - lat): hi - (pos - lat)]
        pos = end
        if progress is not None:
            progress(min(pos, n))
    return result if split else result[0]


@dataclass
class BounceJob:
    """One file to bounce and how."""

    input: Path
    output: Path               # a file (mix) or a folder (stems)
    preset: Preset
    params: P.ParamSet
    stems: bool = False
    bit_depth: int = 16
    channels: Sequence[int] | None = None
    changes: Sequence[P.Change] = ()
    chain: object | None = None  # a Chain (bounce --chain): rendered instead of the engine alone
    automation: Automation | None = None  # recorded changes: used instead of ``changes``
    edits: np.ndarray | None = None


def stem_paths(job: BounceJob, ext: str = ".wav") -> list[Path]:
    return [job.output / f"{name}{ext}" for name in job.preset.outputs]


def run(job: BounceJob, quiet: bool = True) -> list[Path]:
    """Bounce one file; returns the paths written. Raises AudioFileError on bad input/output."""
    targets = stem_paths(job) if job.stems else [job.output]
    for t in targets:
        audiofile.check_output(t, [job.input])
    audio, sr = audiofile.read_stereo(job.input, job.channels)
    if job.edits is not None:
        import warnings

        from ..formats.edits import past_end

        for msg in past_end(job.edits, audio.shape[1] / sr, str(job.input)):
            warnings.warn(msg)
    changes = job.changes
    if job.automation is not None:
        job.automation.check_rate(sr, str(job.input))
        changes = job.automation.changes
    bar = _progress_bar(audio.shape[1], sr, job.input.name, quiet)
    try:
        if job.chain is not None:
            out = job.chain.render(audio, sr, changes=changes, progress=bar.update_to if bar else None)
        else:
            out = render(audio, sr, job.params, split=job.stems, unity=job.stems, changes=changes,
                         progress=bar.update_to if bar else None, edits=job.edits)
    finally:
        if bar:
            bar.close()
    if job.stems:
        for path, stem in zip(targets, out):
            audiofile.write_stereo(path, stem, sr, job.bit_depth)
    else:
        audiofile.write_stereo(targets[0], out, sr, job.bit_depth)
    return targets


def _progress_bar(total: int, sr: float, label: str, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    class Bar(tqdm):
        def update_to(self, done: int) -> None:
            self.update(done / sr - self.n)

    return Bar(total=round(total / sr, 2), unit="s", desc=label, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s")


def default_output(input_path: Path, preset_name: str, stems: bool) -> Path:
    stem = input_path.with_suffix("").name
    base = input_path.parent / f"{stem}-{preset_name}"
    return base if stems else base.with_suffix(".wav")
