"""Offline bounce: a file (read, rendered and written block by block) or an array through the
engine, latency-compensated.

The output has the input's length and is sample-aligned with it. Parameter changes stamped
with sample positions (recorded automation) are applied exactly there, by cutting the stream
at each stamp, so a bounce reproduces what was heard live.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ...dsp import params as P
from ...dsp.engine import Engine
from ..formats import audiofile
from ..formats.atomic import published_together
from ..formats.audiostream import ArraySource, StereoReader
from ..formats.automation import Automation
from ..formats.presets import Preset, at_rate
from ..graph.render import OFFLINE_BLOCK, render_stream as stream
from .bounce_writer import BounceWriter


def render(audio: np.ndarray, sample_rate: float, params: P.ParamSet, *, split: bool = False,
           **kw) -> np.ndarray:
    """Process ``audio`` [shape=(2, n)] whole and return the aligned result (see
    :func:`render_stream`, whose keywords it takes).

    Returns shape (2, n) (the mixed output) or, with ``split``, (2, 2, n): ``[0]`` the slice and
    ``[1]`` the rest.
    """
    result = np.zeros((2 if split else 1, 2, audio.shape[1]), np.float32)

    def keep(o: np.ndarray, lo: int) -> None:
        result[:, :, lo:lo + o.shape[2]] = o

    render_stream(ArraySource(audio, sample_rate), params, keep, split=split, **kw)
    return result if split else result[0]


def render_stream(source, params: P.ParamSet, emit: Callable[[np.ndarray, int], None], *,
                  split: bool = False, unity: bool = False, changes: Iterable[P.Change] = (),
                  progress: Callable[[int], None] | None = None,
                  edits: np.ndarray | None = None, block: int = OFFLINE_BLOCK) -> None:
    """Process ``source`` (an audiostream source) block by block, the aligned output going to
    ``emit(o, lo)`` (render.render_stream): ``o`` [shape=(1, 2, k)], or with ``split``
    (2, 2, k): ``[0]`` the slice and ``[1]`` the rest. With ``unity`` every gain is ignored,
    so the two always sum to the input.
    ``progress`` is called with the number of input samples done after each block (of
    ``block`` samples; the output does not depend on it).
    ``edits`` are hand-edit regions (``Engine.set_edits`` rows; see plugin/formats/edits.py); they apply
    with ``unity`` too, so edited stems no longer sum to the input inside the regions.
    """
    sample_rate = source.sample_rate
    eng = Engine(params, unity=unity).prepare(sample_rate, block)
    if edits is not None:
        eng.set_edits(edits)
    changes = list(changes)
    feed = None
    if params["ml_prior"] > 0 or any(c[1] == "ml_prior" and c[2] > 0 for c in changes):
        from ..ml.prior import PriorFeed  # Spleeter's vocal mask, patch by patch (needs the model)

        feed = PriorFeed(eng, source.again(), sample_rate)  # reads ahead of the render
    if split:
        process = eng.process_split
    else:
        def process(x, o):
            eng.process(x, o[0])
    stream(source.read, source.frames, eng.latency_samples, process, emit,
           outs=2 if split else 1, block=block, changes=changes, apply=eng.set,
           progress=progress, before_block=feed.cover if feed is not None else None,
           dtype=source.dtype)


@dataclass
class BounceJob:
    """One file to bounce and how."""

    input: Path
    output: Path               # a file (mix) or a folder (stems)
    preset: Preset
    params: P.ParamSet
    stems: bool = False
    bit_depth: int | None = None  # None: the input's (see audiofile.source_bit_depth)
    channels: Sequence[int] | None = None
    changes: Sequence[P.Change] = ()
    chain: object | None = None  # a Chain (bounce --chain): rendered instead of the engine alone
    automation: Automation | None = None  # recorded changes: used instead of ``changes``
    edits: np.ndarray | None = None
    overwrite: bool = False    # replace existing outputs (else refuse them before any work)
    keep_level: bool = False   # let a render that clips clip (counted) instead of lowering it
    stem_format: str = ".wav"  # the stems' file format, by extension
    preset_fft: float | None = None  # the preset's fft_size, scaled to the input's rate (None: as given)


def stem_paths(job: BounceJob) -> list[Path]:
    return [job.output / f"{name}{job.stem_format}" for name in job.preset.outputs]


def run(job: BounceJob, quiet: bool = True,
        progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Bounce one file; returns the paths written. Raises AudioFileError on bad input/output.
    ``progress(done, total)`` is told the input samples done (else a bar on a terminal)."""
    targets = stem_paths(job) if job.stems else [job.output]
    for t in targets:
        audiofile.check_output(t, [job.input], job.overwrite, job.bit_depth)
    with StereoReader(job.input, job.channels) as source:
        _run(job, targets, source, quiet, progress)
    return targets


def _run(job: BounceJob, targets: list[Path], source: StereoReader, quiet: bool,
         progress: Callable[[int, int], None] | None) -> None:
    """Read, render and write ``source`` block by block (memory flat in its length)."""
    n, sr = source.frames, source.sample_rate
    depth = job.bit_depth or audiofile.depth_for(targets[0], audiofile.source_bit_depth(job.input))
    if job.edits is not None:
        from ..formats.edits import past_end

        for msg in past_end(job.edits, n / sr, str(job.input)):
            warnings.warn(msg)
    changes = job.changes
    if job.automation is not None:
        job.automation.check_rate(sr, str(job.input))
        changes = job.automation.changes
    params, changes = _for_input(job, source, changes)
    bar = None if progress else _progress_bar(n, sr, job.input.name, quiet)
    told = bar.update_to if bar else None
    if progress is not None:
        def told(done: int, total: int = n) -> None:
            progress(done, total)
    try:
        with published_together(job.output if job.stems else None), \
                BounceWriter(targets, sr, depth, job.keep_level, 1 if source.mono else 2) as out:
            # a set of stems appears whole or not at all
            if job.chain is not None:
                for st in job.chain.stages if job.edits is not None else ():
                    st.engine.set_edits(job.edits)  # as the studio does: every panslice stage
                job.chain.render_stream(n, source.read, sr, out.emit, changes=changes, progress=told)
            else:
                render_stream(source, params, out.emit, split=job.stems, unity=job.stems,
                              changes=changes, progress=told, edits=job.edits)
            note = out.finish()
    finally:
        if bar:
            bar.close()
    if note:
        warnings.warn(f"{job.input}: {note}")


def _for_input(job: BounceJob, source: StereoReader, changes):
    """The job's settings and changes as its input needs them: the preset's fft_size at its
    rate (formats/presets.at_rate), a mono input's (ml/mono.py), an ``auto`` preset's slice
    measured on it (:func:`_auto`), each said once; else as given."""
    job = replace(job, params=at_rate(job.params, job.preset_fft, source.sample_rate))
    if not source.mono:
        return _auto(job, source), changes
    from ..ml import mono

    if job.chain is not None:
        warnings.warn(f"{job.input}: {mono.chain_note()}")
        return job.params, changes
    params, note = mono.settings(job.params)
    warnings.warn(f"{job.input}: {note}")
    return params, mono.changes(changes)


def _auto(job: BounceJob, source: StereoReader) -> P.ParamSet:
    """An ``auto`` preset's ``center`` and ``width`` from analyze's measurement of the voice in
    this input (its first minutes), unless ``--set`` gave them; a mix whose two channels are all
    but the same is not sliced by azimuth at all (as a mono one). Other settings, and other
    presets, as given."""
    auto, base = job.preset.auto, job.preset.params
    if auto is None or job.chain is not None or any(job.params[k] != base[k] for k in ("center", "width")):
        return job.params
    from .analyze import MAX_MINUTES, MONO_LIKE, AutoRule, auto_slice, measure_voice

    src = source.again()
    try:
        audio = src.read(min(src.frames, int(MAX_MINUTES * 60 * src.sample_rate)))
    finally:
        src.close()
    voice, corr = measure_voice(np.ascontiguousarray(audio), src.sample_rate)
    if corr >= MONO_LIKE:
        from ..ml import mono

        params, note = mono.settings(job.params, f"all but mono (L/R correlation {corr:.4f}): the "
                                     "slice is not chosen by azimuth")
        warnings.warn(f"{job.input}: auto: {note}")
        return params
    params = job.params.copy()
    params.update(auto_slice(voice, AutoRule(**auto)))
    warnings.warn(f"{job.input}: auto: the voice sits at {voice.center:+.2f}, half-width "
                  f"{voice.spread:.2f}: center={P.fmt(params['center'])} width={P.fmt(params['width'])}")
    return params


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


def outputs_in(folder: Path, inputs: Sequence[Path], preset_name: str, stems: bool) -> list[Path]:
    """One output per input inside ``folder``, each named after its input and the preset.
    Inputs of the same name (the common ``a/mixture.wav b/mixture.wav``) are told apart by the
    name of their folder (``a-mixture-karaoke``)."""
    names = [default_output(i, preset_name, stems).name for i in inputs]
    outs = []
    for inp, name in zip(inputs, names):
        if names.count(name) > 1:
            name = f"{inp.resolve().parent.name}-{name}"
        outs.append(folder / name)
    return outs

