"""The ``auto`` presets' rule, chosen leave-one-track-out against the fixed presets.

    python benchmarks/auto.py [FOLDER] [--no-write]

Per track, analyze's measurement of the mixture gives the voice's centre and half-width
(``spread``). A rule sets the slice from it: centre on the voice, half-width ``k x spread``
between MIN and MAX (plugin/offline/analyze.AutoRule). For `acapella` (vocals) and `karaoke`
(accompaniment), each ``k`` of the grid and the fixed preset are candidates; leave one track
out: the candidate with the best mean on the other tracks, among those never more than
MAX_LOSS dB under the fixed preset on any of them, is scored on the track left out.
Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import loo, scoring  # noqa: E402

K_GRID = (1.5, 2.0, 3.0, 4.0)
MIN_WIDTH, MAX_WIDTH = 0.15, 0.6   # the floor is MIN_WIDTH, or the fixed preset's own width
MAX_LOSS = 0.2
FIXED = "fixed (shipped)"
STEMS = {"acapella": 0, "karaoke": 1}


def candidates(preset: str, voice) -> dict:
    """Label -> ParamSet for one track: the fixed preset and each rule of the grid."""
    from panslice.plugin.formats import presets
    from panslice.plugin.offline import analyze

    base = presets.load(preset).params
    out = {FIXED: base}
    for floor, tag in ((MIN_WIDTH, ""), (base["width"], ", >= fixed")):
        for k in K_GRID:
            ps = base.copy()
            ps.update(analyze.auto_slice(voice, analyze.AutoRule(k, floor, MAX_WIDTH)))
            out[f"k={k:g}{tag}"] = ps
    return out


def measure(tracks: list[Path], log=print) -> tuple[dict, dict, list]:
    """{preset: {label: scores per track}}, the mixture's own scores, and each track's voice."""
    from panslice.plugin.offline import analyze

    cache = loo.ScoreCache()
    scores = {p: {} for p in STEMS}
    mixture, voices = [], []
    for tr in tracks:
        mix, sr = scoring.load(tr / "mixture.wav")
        voice, corr = analyze.measure_voice(mix, sr)
        voices.append((voice.center, voice.spread, corr))
        mixture.append([scoring.sdr(scoring.load(tr / f"{s}.wav")[0], mix)
                        for s in ("vocals", "accompaniment")])
        for preset, j in STEMS.items():
            for label, ps in candidates(preset, voice).items():
                scores[preset].setdefault(label, []).append(cache.scores(tr, ps)[j])
                log(f"{tr.name[:28]:28s} {preset:9s} {label:16s} width {ps['width']:.3f} "
                    f"{scores[preset][label][-1]:6.2f}")
    return ({p: {k: np.array(v) for k, v in d.items()} for p, d in scores.items()},
            np.array(mixture), voices)


def report(tracks: list[Path], scores: dict, mixture: np.ndarray, voices: list) -> list[str]:
    names = [t.name.split("-")[0][:14] for t in tracks]
    lines = ["## Auto presets: the slice from analyze's measurement", "",
             "Per track, the voice's centre and half-width as analyze measures them ("
             + "; ".join(f"{n}: {c:+.2f} / {s:.2f}, L/R correlation {r:.2f}"
                         for n, (c, s, r) in zip(names, voices))
             + f"). Rule: centre on the voice, half-width k x spread within [{MIN_WIDTH}, {MAX_WIDTH}], "
             f"or within [the fixed preset's width, {MAX_WIDTH}] (`>= fixed`). Leave one track out: the "
             f"rule (or the fixed preset) with the best mean on the other {len(tracks) - 1} tracks, "
             f"plainly or among those never more than {MAX_LOSS} dB under the fixed preset on any of "
             "them, scored on the track left out; SDR in dB.", ""]
    for preset, j in STEMS.items():
        sc = scores[preset]
        rows = [("the mixture left alone", mixture[:, j]), *[(f"`{k}`", v) for k, v in sc.items()]]
        picked = []
        for how, kw in (("best mean", {}),
                        (f"best mean, <= {MAX_LOSS} dB under fixed on every training track",
                         {"baseline": sc[FIXED], "max_loss": MAX_LOSS, "fallback": FIXED})):
            held, picks = loo.leave_one_out(sc, **kw)
            pick = loo.in_sample(sc, **kw)[1]
            rows += [(f"leave-one-out ({how})", held), ("... minus fixed", held - sc[FIXED])]
            picked.append(f"{how}: in-sample `{pick}`; per held-out track "
                          + ", ".join(f"{n} `{p}`" for n, p in zip(names, picks)))
        stem = ("vocals", "accompaniment")[j]
        lines += [f"**`auto{'-karaoke' if preset == 'karaoke' else ''}` ({preset}'s settings), {stem}**",
                  "", *loo.table(names, rows), "", *[f"- {p}" for p in picked], ""]
    return lines


def main() -> int:
    ready = _common.track_command("auto", __doc__)
    if ready is None:
        return 1
    args, tracks = ready
    _common.publish("auto", "\n".join(report(tracks, *measure(tracks))), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
