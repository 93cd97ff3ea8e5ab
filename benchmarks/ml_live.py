"""The ML prior live: what a shorter Spleeter patch (less look-ahead) costs in quality.

    python benchmarks/ml_live.py [FOLDER] [--no-write]

Live, the audio waits for Spleeter's patch to arrive and be computed: the look-ahead (and so
the latency) grows with the patch. Live output equals the bounce with the same patch size
(tests/test_live_ml.py), so the bounce measures the quality: for each patch size and each
track in FOLDER (default ../shared/testdata/real), the acapella-ml vocals and karaoke-ml
accompaniment, and Spleeter as shipped (ml_prior 1, knobs neutral), scored by SDR against the
true stems (benchmarks/scoring.py). Also prints the live latency of each size (44.1 kHz,
blocks of 512, fft 4096). Needs ``panslice model install``. Writes its section of RESULTS.md.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import scoring  # noqa: E402
from benchmarks.ml_quality import setup, shipped_params  # noqa: E402

PATCHES = (64, 128, 256, 512)


def main() -> int:
    from panslice.dsp import spleeter as S
    from panslice.dsp.engine import Engine
    from panslice.plugin.ml import lookahead as ml_live, prior as ml_prior
    from panslice.plugin.formats import presets
    from panslice.plugin.offline.bounce import render

    ready = setup("ml_live", __doc__)
    if ready is None:
        return 1
    args, tracks, net = ready
    feed = ml_prior.PriorFeed
    shipped = shipped_params()
    settings = {"Spleeter as shipped": (shipped, shipped),
                "acapella-ml / karaoke-ml": (presets.load("acapella-ml").params,
                                             presets.load("karaoke-ml").params)}
    scores = {(name, p): [] for name in settings for p in PATCHES}
    for tr in tracks:
        mix, sr = scoring.load(tr / "mixture.wav")
        voc, _ = scoring.load(tr / "vocals.wav")
        acc, _ = scoring.load(tr / "accompaniment.wav")
        for p in PATCHES:
            ml_prior.PriorFeed = functools.partial(feed, patch=p)
            for name, (pv, pa) in settings.items():
                v = render(mix, sr, pv, split=True, unity=True)
                a = v if pa is pv else render(mix, sr, pa, split=True, unity=True)
                scores[name, p].append((scoring.sdr(voc, v[0]), scoring.sdr(acc, a[1])))
                print(f"{tr.name[:28]:28s} patch {p:3d} {name:26s} vocals {scores[name, p][-1][0]:6.2f}"
                      f"  accompaniment {scores[name, p][-1][1]:6.2f}", flush=True)
    ml_prior.PriorFeed = feed

    engine_lat = Engine(presets.load("acapella-ml").params).prepare(S.SAMPLE_RATE, 512).latency_samples
    lines = [
        "## ML prior live: patch size, look-ahead and quality",
        "",
        f"Live, the engine hears the input a look-ahead late, so that Spleeter's patch holding each "
        f"frame has arrived and been computed (with {ml_live.HEADROOM:g} of the patch's length as "
        "the network's time); live output equals the bounce with the same patch size "
        "(tests/test_live_ml.py), so these bounces give the live quality. SDR in dB (bss_eval, "
        f"512-tap filter), mean of {len(tracks)} real tracks; latency at 44.1 kHz, blocks of 512, "
        f"fft_size 4096 (the engine's {engine_lat} samples, its work spread over the blocks of "
        "each 1024-sample hop, + the look-ahead).",
        "",
        "| patch (frames, s) | live latency | Spleeter as shipped: vocals / acc. | "
        "acapella-ml vocals | karaoke-ml accompaniment |",
        "|---|---|---|---|---|",
    ]
    for p in PATCHES:
        pt = ml_prior.Patcher(net, 4096, 1024, S.SAMPLE_RATE, p)
        lat = engine_lat + ml_live.lookahead(pt, 512)
        sh = np.mean(scores["Spleeter as shipped", p], axis=0)
        ml = np.mean(scores["acapella-ml / karaoke-ml", p], axis=0)
        lines.append(f"| {p} ({p * S.HOP / S.SAMPLE_RATE:.1f} s){' (live default)' if p == ml_live.LIVE_PATCH else ''} | "
                     f"{lat} samples = {lat / S.SAMPLE_RATE:.2f} s | {sh[0]:.2f} / {sh[1]:.2f} | "
                     f"{ml[0]:.2f} | {ml[1]:.2f} |")
    lines += ["", "Per track (acapella-ml vocals / karaoke-ml accompaniment):", "",
              "| patch | " + " | ".join(t.name for t in tracks) + " |",
              "|---|" + "---|" * len(tracks)]
    for p in PATCHES:
        lines.append(f"| {p} | " + " | ".join(f"{v:.2f} / {a:.2f}" for v, a in
                                              scores["acapella-ml / karaoke-ml", p]) + " |")
    _common.publish("ml-live", "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
