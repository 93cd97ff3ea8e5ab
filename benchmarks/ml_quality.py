"""Separation quality with the ML prior (Spleeter 2-stems) on real music.

    python benchmarks/ml_quality.py [FOLDER] [--no-write]

For every track in FOLDER (default ../shared/testdata/real) it bounces, stems at unity as
``--stems`` writes them:

- ``Spleeter as shipped``: ml_prior = 1 with every knob neutral (all azimuths, no phase test, one
  full band, Spleeter's own STFT size 4096/1024): the model's vocal mask alone, its complement
  as the accompaniment;
- ``acapella-ml`` (its slice: the vocals) and ``karaoke-ml`` (its rest: the accompaniment), the
  shipped presets, the same settings for every track;
- ``acapella`` / ``karaoke`` without ML, for reference;
- the human in the loop: per track, the best of a few settings a person would try (the two
  rows above, and a narrow centre slice with a little ML: ``STEERED``), chosen by SDR against
  the true stems, so an upper figure for a person steering by ear, named with its setting.

Scores: SDR (bss_eval, 512-tap filter, fast_bss_eval; benchmarks/scoring.py), mean over the two
channels. The network runs once per track (its masks are memoised across the rows; scores are
cached per track and setting, benchmarks/loo.py). Beside these, leave one track out: the knobs
that reshape the mask chosen on the other tracks, scored on the one left out. Needs
``panslice model install``. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import loo  # noqa: E402

TARGET_VOCALS = 8.5
TARGET_ACC = 13.0
NEUTRAL = {"center": 0.0, "width": 2.0, "phase_tolerance": 1.0, "fft_size": 4096, "overlap": 4,
           "ml_prior": 1.0}
VOCAL_BAND = [(120.0, 16000.0, 0.0)]
STEERED = {  # name -> changes to acapella-ml / karaoke-ml (bands: the vocal band)
    "width=0.15 softness=0.2 ml_prior=0.3 bands=120-16000":
        {"width": 0.15, "softness": 0.2, "ml_prior": 0.3},
    "width=0.15 ml_prior=0.3 bands=120-16000": {"width": 0.15, "ml_prior": 0.3},
    "width=0.2 ml_prior=0.3 bands=120-16000": {"width": 0.2, "ml_prior": 0.3},
    "width=0.15 softness=0.2 ml_prior=0.5 bands=120-16000":
        {"width": 0.15, "softness": 0.2, "ml_prior": 0.5},
}


# The leave-one-out grid: the knobs that reshape the ML mask, on acapella-ml's slice.
GRID_CONTRAST = (0.6, 0.8, 1.0)
GRID_SPATIAL = (0.0, 6.0)
GRID_BIAS = (0.0, 0.5)
SHIPPED = "Spleeter as shipped"
MAX_LOSS = 0.2   # dB under Spleeter as shipped on any track that a chosen setting may cost


def grid() -> dict:
    """Label -> ParamSet: Spleeter as shipped, and acapella-ml's slice at each grid point."""
    from panslice.plugin.formats import presets

    out = {SHIPPED: shipped_params()}
    for b in GRID_BIAS:
        for c in GRID_CONTRAST:
            for sp in GRID_SPATIAL:
                ps = presets.load("acapella-ml").params.copy()
                ps.update({"ml_contrast": c, "ml_spatial": sp, "ml_bias": b})
                out[f"ml_contrast={c:g} ml_spatial={sp:g} ml_bias={b:g}"] = ps
    return out


def loo_section(tracks: list[Path], cache: "loo.ScoreCache", log=print) -> tuple[list[str], dict]:
    """The grid on every track, the settings chosen in-sample and leave-one-out (best mean,
    never more than MAX_LOSS under Spleeter as shipped on a training track), and their tables.
    Returns the lines and {stem: in-sample choice}."""
    settings = grid()
    raw = {}
    for label, ps in settings.items():
        raw[label] = np.array([cache.scores(t, ps) for t in tracks])
        log(f"  {label}: " + " ".join(f"{v:.2f}/{a:.2f}" for v, a in raw[label]))
    names = [t.name.split("-")[0][:14] for t in tracks]
    lines = [f"Leave one track out: the grid `ml_contrast` in {GRID_CONTRAST} x `ml_spatial` in "
             f"{GRID_SPATIAL} x `ml_bias` in {GRID_BIAS} on acapella-ml's slice, and Spleeter as "
             "shipped. Per stem, the setting "
             f"with the best mean on the other {len(tracks) - 1} tracks among those never more than "
             f"{MAX_LOSS} dB under Spleeter as shipped on any of them, scored on the track left out "
             "(in-sample: chosen on all tracks).", ""]
    chosen = {}
    for j, stem in enumerate(("vocals", "accompaniment")):
        scores = {k: v[:, j] for k, v in raw.items()}
        kw = {"baseline": scores[SHIPPED], "max_loss": MAX_LOSS, "fallback": SHIPPED}
        held, picks = loo.leave_one_out(scores, **kw)
        ins, pick = loo.in_sample(scores, **kw)
        chosen[stem] = pick
        lines += [f"**{stem}, SDR (dB)**", "", *loo.table(names, [
            (SHIPPED, scores[SHIPPED]), (f"in-sample: `{pick}`", ins),
            ("leave-one-out", held), ("leave-one-out minus Spleeter as shipped", held - scores[SHIPPED]),
        ]), "", "Chosen per held-out track: " + "; ".join(
            f"{n}: `{p}`" for n, p in zip(names, picks)), ""]
    return lines, chosen


class _Memo:
    """The network with its per-track masks remembered (one inference per track)."""

    def __init__(self, net):
        self.net, self.memo = net, {}

    def vocal_mask(self, mag, run=None):
        key = (mag.shape, float(mag[::7, ::13].sum()))
        if key not in self.memo:
            self.memo[key] = self.net.vocal_mask(mag, run)
        return self.memo[key]


def setup(prog: str, doc: str):
    """The ML benchmarks' command line, tracks and memoised network (installed as the one
    the bounce uses): ``(args, tracks, net)``, or None after one line on stderr."""
    from panslice.plugin.ml import prior as ml_prior, model

    ready = _common.track_command(prog, doc)
    if ready is None:
        return None
    args, tracks = ready
    try:
        ml_prior._net = _Memo(ml_prior.network())
    except model.ModelError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    return args, tracks, ml_prior._net


def shipped_params():
    """Spleeter as shipped: ml_prior 1, every knob neutral, one full band."""
    from panslice.dsp import params as P

    shipped = P.ParamSet(NEUTRAL)
    shipped.set_bands([(0.0, 96000.0, 0.0)])
    return shipped


def main() -> int:
    from panslice.plugin.formats import presets

    ready = setup("ml_quality", __doc__)
    if ready is None:
        return 1
    args, tracks, _ = ready
    shipped = shipped_params()
    rows = {  # name -> (params for the vocal estimate, params for the accompaniment estimate)
        "Spleeter as shipped (ml_prior=1, knobs neutral)": (shipped, shipped),
        "acapella-ml / karaoke-ml (presets)": (presets.load("acapella-ml").params,
                                              presets.load("karaoke-ml").params),
        "acapella / karaoke (no ML, reference)": (presets.load("acapella").params,
                                                 presets.load("karaoke").params),
    }
    # The ML presets without the azimuth's say (ml_spatial 0): what ml_contrast alone gives.
    pv, pa = presets.load("acapella-ml").params.copy(), presets.load("karaoke-ml").params.copy()
    pv.update({"ml_spatial": 0.0})
    pa.update({"ml_spatial": 0.0})
    rows["acapella-ml / karaoke-ml with ml_spatial=0"] = (pv, pa)
    for name, change in STEERED.items():
        pv, pa = presets.load("acapella-ml").params.copy(), presets.load("karaoke-ml").params.copy()
        for ps in (pv, pa):
            ps.update(change)
            ps.set_bands(VOCAL_BAND)
        rows[name] = (pv, pa)
    shown = list(rows)[:4]
    cache = loo.ScoreCache()
    held_out, chosen = loo_section(tracks, cache)
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for tr in tracks:
        for name, (pv, pa) in rows.items():
            scores[name].append((cache.scores(tr, pv)[0], cache.scores(tr, pa)[1]))
            print(f"{tr.name[:30]:30s} {name[:40]:40s} vocals {scores[name][-1][0]:6.2f}  "
                  f"accompaniment {scores[name][-1][1]:6.2f}", flush=True)

    short = [t.name.split("-")[0][:14] for t in tracks]
    lines = [
        "## ML prior: quality",
        "",
        f"SDR in dB (bss_eval, 512-tap filter) on {len(tracks)} real tracks, stems at unity; "
        "the same settings for every track.",
        "",
        "| method | estimate | " + " | ".join(short) + " | mean |",
        "|---|---|" + "---|" * len(tracks) + "---|",
    ]
    for name in shown:
        arr = np.array(scores[name])
        for j, est in enumerate(("vocals", "accompaniment")):
            lines.append(f"| {name} | {est} | " + " | ".join(f"{v:.2f}" for v in arr[:, j])
                         + f" | **{arr[:, j].mean():.2f}** |")
    lines += ["", *held_out]
    steer = [name for name in rows if name != "acapella / karaoke (no ML, reference)"]
    lines += ["", "Human in the loop: per track, the best of these ML settings ("
              + "; ".join(f"`{n}`" for n in steer) + "), by SDR against the true stems:", "",
              "| track | vocals | setting | accompaniment | setting |", "|---|---|---|---|---|"]
    best = []
    for i, tr in enumerate(tracks):
        bv = max(steer, key=lambda n: scores[n][i][0])
        ba = max(steer, key=lambda n: scores[n][i][1])
        best.append((scores[bv][i][0], scores[ba][i][1]))
        lines.append(f"| {tr.name} | {best[-1][0]:.2f} | {bv} | {best[-1][1]:.2f} | {ba} |")
    hb = np.mean(best, axis=0)
    lines.append(f"| **mean** | **{hb[0]:.2f}** | | **{hb[1]:.2f}** | |")
    ml = np.array(scores["acapella-ml / karaoke-ml (presets)"]).mean(axis=0)
    lines += ["", f"Targets: acapella-ml vocals >= {TARGET_VOCALS} dB: "
                  f"{'met' if ml[0] >= TARGET_VOCALS else 'NOT met'} ({ml[0]:.2f}); karaoke-ml "
                  f"accompaniment >= {TARGET_ACC} dB: {'met' if ml[1] >= TARGET_ACC else 'NOT met'} "
                  f"({ml[1]:.2f}). Steered per track: vocals {hb[0]:.2f}, accompaniment "
                  f"{hb[1]:.2f} ({'both met' if hb[0] >= TARGET_VOCALS and hb[1] >= TARGET_ACC else 'not both met'})."]
    _common.publish("ml", "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
