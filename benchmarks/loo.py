"""Leave-one-track-out evaluation: a tuned value is chosen on all tracks but one and scored on
the one left out, so a figure cannot come from having seen the track it is scored on.

A sweep gives, per candidate setting, one score per track. :func:`choose` picks the candidate
with the best mean on the training tracks, among those that do no harm there (never more than
``max_loss`` dB under a baseline on any training track); :func:`leave_one_out` does that once per
track with the track held out. Scores (two stems per render) are cached on disk per track and
setting, keyed by the code that made them, so a rerun or a second benchmark reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from benchmarks import scoring

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "panslice" / "bench-scores.json"
UNITY_IGNORES = ("target_gain_db", "rest_gain_db")   # stems at unity do not depend on these
# The code whose change invalidates a cached score: always, and with the ML prior on.
_CODE = ("dsp/*.py", "plugin/offline/bounce.py", "benchmarks/scoring.py")
_ML_CODE = ("dsp/ml_spatial.py", "dsp/spleeter.py", "plugin/ml/*.py")


def _code_hash(ml: bool) -> str:
    h = hashlib.sha256()
    ml_files = {p for pattern in _ML_CODE for p in ROOT.glob(pattern)}
    files = {p for pattern in _CODE for p in ROOT.glob(pattern)}
    for p in sorted(files | ml_files if ml else files - ml_files):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


class ScoreCache:
    """(vocal SDR of the slice, accompaniment SDR of the rest) per track and setting, on disk."""

    def __init__(self, path: Path = CACHE):
        self.path = path
        self.code = {False: _code_hash(False), True: _code_hash(True)}
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def key(self, track: Path, params) -> str:
        mix = track / "mixture.wav"
        st = mix.stat()
        values = {k: v for k, v in params.as_dict().items() if k not in UNITY_IGNORES}
        text = json.dumps([self.code[params["ml_prior"] > 0], str(mix), st.st_size, st.st_mtime_ns,
                           sorted(values.items())])
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def scores(self, track: Path, params) -> tuple[float, float]:
        """The two stems' SDR for ``params`` on ``track`` (rendered at unity once, then cached)."""
        from panslice.plugin.offline.bounce import render

        k = self.key(track, params)
        if k not in self.data:
            mix, sr = scoring.load(track / "mixture.wav")
            voc, _ = scoring.load(track / "vocals.wav")
            acc, _ = scoring.load(track / "accompaniment.wav")
            s = render(mix, sr, params, split=True, unity=True)
            self.data[k] = [scoring.sdr(voc, s[0]), scoring.sdr(acc, s[1])]
            self._save()
        return tuple(self.data[k])

    def _save(self) -> None:
        """Merge with what other runs wrote meanwhile, then replace the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.data = {**json.loads(self.path.read_text()), **self.data}
        except (OSError, ValueError):
            pass
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def choose(scores: dict[str, np.ndarray], train: np.ndarray, baseline: np.ndarray | None = None,
           max_loss: float = 0.2, fallback: str | None = None) -> str:
    """The candidate with the best mean over ``train`` (a boolean track mask), among those never
    more than ``max_loss`` dB under ``baseline`` on a training track; ``fallback`` (or the first
    candidate) when none qualifies."""
    ok = [c for c, s in scores.items()
          if baseline is None or np.min(s[train] - baseline[train]) >= -max_loss]
    if not ok:
        return fallback or next(iter(scores))
    return max(ok, key=lambda c: float(np.mean(scores[c][train])))


def leave_one_out(scores: dict[str, np.ndarray], **kw) -> tuple[np.ndarray, list[str]]:
    """Per track: the score of the candidate chosen on the other tracks, and its name."""
    n = len(next(iter(scores.values())))
    held, picks = np.zeros(n), []
    for i in range(n):
        train = np.arange(n) != i
        c = choose(scores, train, **kw)
        held[i] = scores[c][i]
        picks.append(c)
    return held, picks


def in_sample(scores: dict[str, np.ndarray], **kw) -> tuple[np.ndarray, str]:
    """The candidate chosen on every track, and its scores."""
    n = len(next(iter(scores.values())))
    c = choose(scores, np.ones(n, bool), **kw)
    return scores[c], c


def table(names: list[str], rows: list[tuple[str, np.ndarray]]) -> list[str]:
    """Markdown rows: label, one cell per track, the mean."""
    out = ["| | " + " | ".join(names) + " | mean |", "|---" * (len(names) + 2) + "|"]
    for label, arr in rows:
        out.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in arr) + f" | **{np.mean(arr):.2f}** |")
    return out
