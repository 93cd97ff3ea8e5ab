"""Bounce from the page: the command the page shows, rendered in a thread with progress.

The page never names a path: it asks for the mix or the stems, and the output goes to the
session's output folder (``--out-dir``, default beside the song) under the name ``bounce``
gives by default. The parameters are parsed from the command's own ``--set`` words, the
way ``bounce`` parses them, so the file is bit for bit what running that command writes.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Sequence

from ...dsp import params as P
from ...dsp.errors import PansliceError
from ..control.hub import Rejected
from ..formats import audiofile, presets
from ..formats.paths import Role, check_apart
from ..offline import bounce


def settings_words(state: dict[str, float], base: str) -> list[str]:
    """``--set NAME=VALUE`` for every value that differs from preset ``base``."""
    preset = presets.load(base)
    words = []
    for p in P.REGISTRY:
        v = state[p.name]
        if v != preset.params[p.name]:
            words += ["--set", f"{p.name}={P.fmt(v)}"]
    return words


def output_of(song: Path, out_dir: Path, preset: str, stems: bool) -> Path:
    return out_dir / bounce.default_output(song, preset, stems).name


def command(song: str | None, state: dict[str, float], base: str, chain: str | None, *,
            edits: Path | None = None, out_dir: Path | None = None, stems: bool = False,
            channels=None) -> str:
    """The ``panslice bounce`` line that renders what the knobs (and regions) are set to now."""
    words = ["panslice", "bounce", song or "INPUT.wav", "--preset", base]
    if chain:
        words += ["--chain", chain]
    words += settings_words(state, base)
    if channels:
        words += ["--channels", ",".join(str(c) for c in channels)]
    if edits is not None:
        words += ["--edits", str(edits)]
    if song and out_dir is not None:
        words += ["-o", str(output_of(Path(song), out_dir, base, stems))]
    if stems:
        words.append("--stems")
    words.append("-y")   # the page's bounce replaces its last one, as the command then does
    return " ".join(shlex.quote(w) for w in words)


def chain_of(path: str, base: str, overrides: dict[str, object]):
    """The chain ``bounce --chain PATH --preset BASE --set ...`` renders (the ML prior, if a
    stage asks for it, on Spleeter's own patch, as a bounce has it)."""
    from ..graph import chainfile

    chain = chainfile.load(path, preset=base, overrides=overrides)
    if any(st.params["ml_prior"] > 0 for st in chain.stages):
        from ...dsp import spleeter as S
        from ..ml import lookahead

        lookahead.attach(chain, S.PATCH, offline=True)
    return chain


class Bouncer:
    """One bounce at a time, in its own thread; ``tell(dict)`` reports to every page."""

    def __init__(self, song: Path, out_dir: Path, channels, tell, chain: str | None = None,
                 keep: Sequence[Role] = ()):
        self.song, self.out_dir, self.channels, self.tell = song, out_dir, channels, tell
        self.chain = chain
        self.keep = list(keep)   # the session's other files (its recording, its edits), never replaced
        self.thread: threading.Thread | None = None

    def start(self, state: dict[str, float], base: str, edit_rows, stems: bool) -> Path:
        if self.thread is not None and self.thread.is_alive():
            raise Rejected("a bounce is already running")
        if stems and self.chain:
            raise Rejected("a chain has one output: bounce the mix (stems need a studio without --chain)")
        preset = presets.load(base)
        ps = preset.params.copy()
        overrides = P.parse_set(settings_words(state, base)[1::2])
        P.apply_overrides(ps, overrides)
        out = output_of(self.song, self.out_dir, base, stems)
        job = bounce.BounceJob(self.song, out, preset, ps, stems=stems, channels=self.channels,
                               edits=edit_rows, overwrite=True,
                               preset_fft=None if "fft_size" in overrides else preset.params["fft_size"],
                               chain=chain_of(self.chain, base, overrides) if self.chain else None)
        targets = self._targets(job)
        check_apart([("the song", self.song), ("--chain", self.chain)],
                    [("the page's bounce", t) for t in targets] + self.keep)
        for t in targets:
            audiofile.check_output(t, [self.song], overwrite=True)
        self.thread = threading.Thread(target=self._run, args=(job,), name="panslice-bounce",
                                       daemon=True)
        self.thread.start()
        return out

    @staticmethod
    def _targets(job: bounce.BounceJob) -> list[Path]:
        return bounce.stem_paths(job) if job.stems else [job.output]

    def _run(self, job: bounce.BounceJob) -> None:
        """``bounce.run`` itself, so every rule of the command holds (bit depth, headroom...)."""
        told = [0.0]

        def progress(done: int, total: int) -> None:
            if done / total >= told[0] + 0.01:  # a message per percent, not per block
                told[0] = done / total
                self.tell({"t": "bounce", "done": told[0]})
        try:
            wrote = bounce.run(job, progress=progress)
            self.tell({"t": "bounce", "done": 1.0, "wrote": [str(w) for w in wrote]})
        except (PansliceError, OSError) as e:
            self.tell({"t": "bounce", "error": str(e)})
