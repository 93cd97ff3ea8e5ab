"""What a batch worker does with one file: the same bounce as ``panslice bounce``, fenced by
the stamp check, with inputs and outputs anywhere fsspec reaches.

A task carries everything resolved on the client (the preset's parameters, the chain file's
text), so a worker on another machine needs panslice and nothing of the client's set-up. It
renders into its own scratch folder (Dask's, which Dask clears when a worker dies), then
publishes each output whole (a local rename, or one PUT on S3) and writes the sidecar last:
a worker killed at any point leaves no output half-written and no stamp for work not done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...dsp import params as P
from ...dsp.errors import PansliceError
from ..formats import audiofile
from ..formats.presets import Preset
from . import batch_report, bounce, stamp
from .catalogue import filesystem, join


@dataclass(frozen=True)
class Settings:
    """How each file of a group is bounced (resolved once on the client)."""

    preset: Preset
    params: P.ParamSet
    stems: bool = False
    bit_depth: int = 16
    format: str = ".wav"
    chain_text: str | None = None   # a chain file's text (rendered instead of the engine)
    chain_name: str | None = None
    overrides: dict = field(default_factory=dict)  # --set, applied to the chain's stages
    digest: str = ""
    preset_fft: float | None = None  # the preset's fft_size, scaled per file's rate (None: --set names it)

    @property
    def name(self) -> str:
        """What outputs are named after: the chain file, or the preset."""
        return Path(self.chain_name).stem if self.chain_text is not None else self.preset.name


def settings(preset: Preset, sets: list[str], *, stems: bool = False, bit_depth: int = 16,
             fmt: str = ".wav", chain_path: str | None = None) -> Settings:
    """Resolve ``preset`` + ``--set`` (and a chain file) and hash what shapes the output."""
    if bit_depth == 32 and fmt in audiofile.INTEGER_ONLY:
        raise PansliceError(f"--bit-depth 32 is float, which needs --format wav ({fmt[1:]} holds "
                            "16 or 24 bits)")
    overrides = P.parse_set(sets)
    ps = preset.params.copy()
    P.apply_overrides(ps, overrides)
    chain_text = None
    if chain_path is not None:
        if stems:
            raise PansliceError("--stems and --chain cannot be combined: a chain has one output")
        from ..graph import chainfile

        from ..formats.textfile import read_text

        chain_text = read_text(Path(chain_path), "chain file", chainfile.ChainFileError)
        chainfile.parse(chain_text, Path(chain_path), preset=preset.name, overrides=overrides)
    fft = None if "fft_size" in overrides else preset.params["fft_size"]
    digest = stamp.settings_hash({"params": ps.as_dict(), "outputs": list(preset.outputs),
                                  "stems": stems, "bit_depth": bit_depth, "format": fmt,
                                  "chain": chain_text, "preset": preset.name if chain_text else None,
                                  "overrides": {k: str(v) for k, v in overrides.items()},
                                  "fft_size_per_rate": fft is not None})
    return Settings(preset, ps, stems, bit_depth, fmt, chain_text, chain_path, overrides, digest, fft)


@dataclass(frozen=True)
class Task:
    input: str
    output: str          # a file (mix) or a folder (stems); its sidecar sits beside it
    fingerprint: str
    settings: Settings


def run(task: Task) -> dict:
    """Bounce one file; the report row (never raises: a bad file is a row, not a stop)."""
    t0, c0 = time.perf_counter(), time.process_time()
    row = batch_report.row(task.input, "failed", worker=_worker_name())
    try:
        with tempfile.TemporaryDirectory(prefix="panslice-", dir=_scratch()) as tmp:
            row.update(_bounce(task, Path(tmp)))
    except PansliceError as e:
        row["error"] = str(e)
    except Exception as e:  # a bug must not cost the other files their bounce
        row["error"] = f"{task.input}: failed ({type(e).__name__}: {e})"
    row["seconds"] = round(time.perf_counter() - t0, 4)
    row["cpu_seconds"] = round(time.process_time() - c0, 4)  # the worker process's, for costing
    return row


def _bounce(task: Task, tmp: Path) -> dict:
    st = task.settings
    local_in = _local_input(task.input, tmp)
    digest = stamp.content_hash(local_in)
    old = stamp.read(task.output)
    if stamp.current(old, st.digest) and old.get("input_sha256") == digest:
        stamp.write(task.output, {**old, "input_fingerprint": task.fingerprint})
        return {"status": "skipped", "outputs": old.get("outputs", [])}
    target = tmp / "out" if st.stems else tmp / f"out{st.format}"
    job = bounce.BounceJob(Path(local_in), target, st.preset, st.params, stems=st.stems,
                           bit_depth=st.bit_depth, chain=_chain(st), stem_format=st.format,
                           preset_fft=st.preset_fft)
    try:
        written = bounce.run(job)
    except PansliceError as e:
        raise PansliceError(str(e).replace(local_in, task.input)) from None
    seconds = _duration(local_in)
    dests = [_publish(w, task.output if not st.stems else join(task.output, w.name)) for w in written]
    stamp.write(task.output, stamp.record(task.input, digest, task.fingerprint, st.digest, dests, seconds))
    return {"status": "done", "outputs": dests, "audio_seconds": round(seconds, 3)}


def _local_input(url: str, tmp: Path) -> str:
    """A local path to read ``url`` from: itself if local, else a copy in ``tmp``."""
    fs, path = filesystem(url)
    if "file" in fs.protocol:
        return path
    local = tmp / f"input{os.path.splitext(path)[1]}"
    try:
        fs.get_file(path, str(local))
    except FileNotFoundError:
        raise PansliceError(f"{url}: no such file") from None
    return str(local)


def _publish(src: Path, dest: str) -> str:
    """Put ``src`` at ``dest`` whole: renamed into place locally, one upload elsewhere."""
    fs, path = filesystem(dest)
    if "file" in fs.protocol:
        from ..formats.atomic import atomic_path

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with atomic_path(path) as part:
            shutil.copyfile(src, part)
    else:
        fs.put_file(str(src), path)
    return dest


def _duration(path: str) -> float:
    from pedalboard.io import AudioFile

    with AudioFile(path) as f:
        return f.frames / f.samplerate


_chains: dict[str, object] = {}  # per worker process: a chain is built once per settings


def _chain(st: Settings):
    """The chain of ``st`` (None without one), built once per process: VST3s load once, and
    an ML prior stage's model is the process's one (plugin/ml/prior.network)."""
    if st.chain_text is None:
        return None
    if st.digest not in _chains:
        from ..graph import chainfile

        chain = chainfile.parse(st.chain_text, Path(st.chain_name), preset=st.preset.name,
                                overrides=st.overrides)
        if any(s.params["ml_prior"] > 0 for s in chain.stages):
            from ...dsp import spleeter as S
            from ..ml import lookahead

            lookahead.attach(chain, S.PATCH, offline=True)
        _chains[st.digest] = chain
    return _chains[st.digest]


def _scratch() -> str | None:
    """The Dask worker's own folder (cleared by Dask if the worker dies), else the system's."""
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):
        return None


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
