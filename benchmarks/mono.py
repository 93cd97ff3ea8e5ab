"""Separation quality on mono recordings: the shared tracks folded to mono (the mean of left and
right), bounced as a mono file end to end (``bounce --stems``: mono in, mono stems out).

    python benchmarks/mono.py [FOLDER] [--no-write]

Rows: Spleeter as shipped (ml_prior 1, every knob neutral), the ML presets, and the presets
without ML, which a mono file routes to the ML prior (plugin/ml/mono.py); the mixture left
alone for reference. References: the true stems folded the same way. Beside the shipped
value, ``ml_contrast`` chosen leave-one-track-out on acapella-ml's mono slice. Each row also
checks that the two stems sum back to the mono input. Needs ``panslice model install``.
Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import loo, scoring  # noqa: E402
from benchmarks.ml_quality import MAX_LOSS, SHIPPED, setup, shipped_params  # noqa: E402

GRID_CONTRAST = (0.6, 0.8, 1.0)
PAIRS = {  # row -> (preset for the vocals, preset for the accompaniment)
    "acapella-ml / karaoke-ml": ("acapella-ml", "karaoke-ml"),
    "vocal-lift (routed to the ML prior)": ("vocal-lift", "vocal-lift"),
    "acapella / karaoke (routed to the ML prior)": ("acapella", "karaoke"),
}


def fold(track: Path, folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """The track's mixture folded to a mono file in ``folder``; its stems folded [shape=(1, n)]."""
    import soundfile as sf

    mix, sr = scoring.load(track / "mixture.wav")
    path = folder / f"{track.name}.wav"
    sf.write(str(path), mix.mean(axis=0), int(sr), subtype="FLOAT")
    refs = [scoring.load(track / f"{s}.wav")[0].mean(axis=0, keepdims=True)
            for s in ("vocals", "accompaniment")]
    return path, refs[0], refs[1]


def bounce_mono(path: Path, params, out: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """The mono stems of ``path`` (bounce --stems, 32-bit) and how far their sum is off."""
    from panslice.plugin.formats import presets
    from panslice.plugin.offline import bounce

    preset = presets.Preset("bench", "", ["vocals", "accompaniment"], params, "user")
    job = bounce.BounceJob(path, out, preset, params, stems=True, bit_depth=32, overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the mono note, once per bounce
        bounce.run(job)
    v, _ = scoring.load(out / "vocals.wav")
    a, _ = scoring.load(out / "accompaniment.wav")
    x, _ = scoring.load(path)
    assert v.shape[0] == 1 and a.shape[0] == 1, "mono in must give mono out"
    return v, a, float(np.abs(v + a - x).max())


def measure(tracks: list[Path], log=print) -> tuple[dict, dict, float]:
    """Per row, per track (vocal SDR, accompaniment SDR); the contrast grid's; the worst sum."""
    from panslice.plugin.formats import presets

    rows = {"the mixture left alone": None, SHIPPED: (shipped_params(), shipped_params())}
    rows.update({k: (presets.load(v).params, presets.load(a).params) for k, (v, a) in PAIRS.items()})
    grid = {}
    for c in GRID_CONTRAST:
        ps = presets.load("acapella-ml").params.copy()
        ps.update({"ml_contrast": c})
        grid[f"ml_contrast={c:g}"] = ps
    scores = {k: [] for k in rows}
    gscores = {k: [] for k in grid}
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="panslice-mono-") as d:
        for tr in tracks:
            path, rv, ra = fold(tr, Path(d))
            x, _ = scoring.load(path)
            done = {}   # params -> stems, so a setting shared by rows renders once

            def stems(ps):
                key = repr(sorted(ps.as_dict().items()))
                if key not in done:
                    done[key] = bounce_mono(path, ps, Path(d) / "out")
                return done[key]

            for name, pair in rows.items():
                if pair is None:
                    scores[name].append((scoring.sdr(rv, x), scoring.sdr(ra, x)))
                    continue
                v, _, off_v = stems(pair[0])
                _, a, off_a = stems(pair[1])
                worst = max(worst, off_v, off_a)
                scores[name].append((scoring.sdr(rv, v), scoring.sdr(ra, a)))
                log(f"{tr.name[:28]:28s} {name[:44]:44s} {scores[name][-1][0]:6.2f} {scores[name][-1][1]:6.2f}")
            for name, ps in grid.items():
                v, a, off = stems(ps)
                worst = max(worst, off)
                gscores[name].append((scoring.sdr(rv, v), scoring.sdr(ra, a)))
                log(f"{tr.name[:28]:28s} {name:44s} {gscores[name][-1][0]:6.2f} {gscores[name][-1][1]:6.2f}")
    return ({k: np.array(v) for k, v in scores.items()}, {k: np.array(v) for k, v in gscores.items()},
            worst)


def report(tracks: list[Path], scores: dict, gscores: dict, worst: float) -> list[str]:
    names = [t.name.split("-")[0][:14] for t in tracks]
    lines = ["## Mono recordings", "",
             f"The {len(tracks)} shared tracks folded to mono (mean of L and R), bounced as mono files "
             "(`bounce --stems`, mono in, mono out); SDR in dB against the true stems folded the same "
             f"way. Stems sum back to the mono input within {worst:.1e} on every row.", ""]
    for j, stem in enumerate(("vocals", "accompaniment")):
        rows = [(k, v[:, j]) for k, v in scores.items()]
        shipped = scores[SHIPPED][:, j]
        ml = scores["acapella-ml / karaoke-ml"][:, j]
        rows.append(("acapella-ml / karaoke-ml minus Spleeter as shipped", ml - shipped))
        lines += [f"**{stem}**", "", *loo.table(names, rows), ""]
    g = {k: v[:, 0] for k, v in gscores.items()}
    kw = {"baseline": scores[SHIPPED][:, 0], "max_loss": MAX_LOSS, "fallback": "ml_contrast=1"}
    held, picks = loo.leave_one_out(g, **kw)
    lines += ["Leave one track out: acapella-ml's `ml_contrast` chosen on the other tracks' mono "
              f"folds (grid {GRID_CONTRAST}; never more than {MAX_LOSS} dB under Spleeter as shipped "
              "on a training track), scored on the one left out (vocals):", "",
              *loo.table(names, [*[(f"`{k}`", v) for k, v in g.items()], ("leave-one-out", held),
                                 ("leave-one-out minus Spleeter as shipped", held - scores[SHIPPED][:, 0])]),
              "", "Chosen per held-out track: " + "; ".join(f"{n}: `{p}`" for n, p in zip(names, picks))]
    return lines


def main() -> int:
    ready = setup("mono", __doc__)
    if ready is None:
        return 1
    args, tracks, _ = ready
    scores, gscores, worst = measure(tracks)
    _common.publish("mono", "\n".join(report(tracks, scores, gscores, worst)), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
