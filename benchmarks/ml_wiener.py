"""Does a multichannel Wiener filter driven by the ML mask hold out on tracks it was not tuned on?

    python benchmarks/ml_wiener.py [FOLDER] [--no-write]

Spleeter as shipped applies one real mask per bin to both channels. A multichannel Wiener filter
(MWF; norbert, open-unmix) also uses the stereo image: per bin, the voice and the band each get
a power ``v_j`` from the mask (``m p`` and ``(1 - m) p``, ``p`` the mean power of the two
channels, so that equal images give back the mask itself) and a 2x2 spatial covariance ``R_j``,
a causal exponential average over frames of ``y_j y_j^H`` over that of ``|y_j|^2``, with
``y_voice = m x`` and ``y_band = x - y_voice``. The voice is ``W x`` with
``W = v_v R_v (v_v R_v + v_b R_b + eps I)^-1``, the band the mixture less the voice, so the stems
still sum back. A coherent centred voice over a wide band is what it should exploit.

Offline numpy on the engine's grid (4096/1024, sqrt-Hann analysis and synthesis, the engine's
prior rows from the project's Patcher): its ``Spleeter as shipped`` is the bounce's to 0.01 dB
(both are printed). Rows: Spleeter as shipped; ``ml_contrast`` 0.6 (the ML presets'); the MWF at
time constants of 2 and 8 s, from either mask; and the MWF with the covariances taken from the
true stems (the same causal average), the most any estimate of the stereo image could give it.
Leave one track out as ml_quality.py does, over every row but the last. Needs
``panslice model install``. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks import loo, ml_quality, scoring  # noqa: E402

N, HOP = 4096, 1024
TARGET_GAIN = 0.5     # dB over Spleeter as shipped, leave-one-out mean (issue 14)
FLOOR = 1e-3          # eps = FLOOR * p: the filter's regularisation, relative to the bin's power
ROWS = {  # label -> (ml_contrast, MWF time constant in s or None, covariances from the true stems)
    ml_quality.SHIPPED: (1.0, None, False),
    "ml_contrast 0.6": (0.6, None, False),
    "MWF 2 s": (1.0, 2.0, False),
    "MWF 8 s": (1.0, 8.0, False),
    "ml_contrast 0.6 + MWF 2 s": (0.6, 2.0, False),
    "ml_contrast 0.6 + MWF 8 s": (0.6, 8.0, False),
    "MWF 8 s, covariances of the true stems (ceiling)": (1.0, 8.0, True),
}


def analyse(x: np.ndarray) -> np.ndarray:
    """The engine's frames of ``x`` [shape=(2, n)]: frame j holds samples
    ``[(j+1)*HOP - N, (j+1)*HOP)`` (zeros outside), sqrt-Hann windowed [shape=(2, J, N//2+1)]."""
    frames = (x.shape[1] + N) // HOP
    pad = np.concatenate([np.zeros((2, N)), x, np.zeros((2, N))], axis=1)
    at = (np.arange(frames)[:, None] + 1) * HOP + np.arange(N)[None]
    return np.fft.rfft(pad[:, at] * np.sqrt(np.hanning(N + 1)[:N]), axis=-1)


def synthesise(spec: np.ndarray, n: int) -> np.ndarray:
    """Overlap-add of ``spec`` (as :func:`analyse` gives) back to ``n`` aligned samples."""
    y = np.fft.irfft(spec, n=N, axis=-1) * (np.sqrt(np.hanning(N + 1)[:N]) * (2.0 * HOP / N))
    out = np.zeros((2, (spec.shape[1] + 1) * HOP + N))
    for j in range(spec.shape[1]):
        out[:, (j + 1) * HOP:(j + 1) * HOP + N] += y[:, j]
    return out[:, N:N + n]


def prior(mix: np.ndarray, sr: float, contrast: float, frames: int) -> np.ndarray:
    """The engine's ML prior rows [shape=(frames, N//2+1)] at ``ml_contrast``, as a bounce gets
    them (frames without a row: 1, the slice alone)."""
    from panslice.dsp import spleeter as S
    from panslice.plugin.ml import prior as ml_prior

    pt = ml_prior.Patcher(ml_prior.network(), N, HOP, sr,
                          params={"ml_contrast": contrast, "ml_spatial": 0.0, "ml_bias": 0.0})
    rows = np.ones((frames, N // 2 + 1))
    for k in range(pt.n_patches(mix.shape[1])):
        f0, r = pt.rows(k, S.segment(mix, *pt.span(k)))
        m = max(min(len(r), frames - f0), 0)
        rows[f0:f0 + m] = r[:m]
    return rows


def wiener(spec: np.ndarray, mask: np.ndarray, tau_s: float, sr: float,
           truth: np.ndarray | None = None) -> np.ndarray:
    """The voice [shape=spec.shape] of the causal MWF driven by ``mask`` [shape=(J, bins)]; its
    covariances from ``truth`` (the true voice's frames) where given, else from ``mask * x``."""
    keep = np.exp(-HOP / (sr * tau_s))
    eye = np.eye(2)
    cov = np.zeros((2, mask.shape[1], 2, 2), complex) + 1e-8 * eye   # [voice|band] sums of y y^H
    power = np.full((2, mask.shape[1]), 2e-8)                          # ... of |y|^2
    out = np.empty_like(spec)
    for t in range(mask.shape[0]):
        x = spec[:, t].T                                               # (bins, 2)
        p = 0.5 * (np.abs(x) ** 2).sum(-1)
        v = np.stack([mask[t] * p, (1.0 - mask[t]) * p])
        c = (v / power)[..., None, None] * (2.0 * cov)                 # v_j R_j (trace R_j = 2)
        w = c[0] @ np.linalg.inv(c[0] + c[1] + (FLOOR * p + 1e-20)[:, None, None] * eye)
        out[:, t] = (w @ x[..., None])[..., 0].T
        y = x * mask[t][:, None] if truth is None else truth[:, t].T
        for j, yj in enumerate((y, x - y)):
            cov[j] = keep * cov[j] + (1 - keep) * yj[:, :, None] * yj[:, None, :].conj()
            power[j] = keep * power[j] + (1 - keep) * (np.abs(yj) ** 2).sum(-1)
    return out


def track_scores(track) -> dict[str, tuple[float, float]]:
    """Every row's (vocal SDR, accompaniment SDR) on one track."""
    mix, sr = scoring.load(track / "mixture.wav")
    voc, _ = scoring.load(track / "vocals.wav")
    acc, _ = scoring.load(track / "accompaniment.wav")
    spec = analyse(mix.astype(np.float64))
    truth = analyse(voc.astype(np.float64))
    masks = {c: prior(mix, sr, c, spec.shape[1]) for c in {r[0] for r in ROWS.values()}}
    out = {}
    for label, (c, tau, oracle) in ROWS.items():
        est = spec * masks[c] if tau is None else wiener(spec, masks[c], tau, sr,
                                                         truth if oracle else None)
        v = synthesise(est, mix.shape[1])
        out[label] = (scoring.sdr(voc, v), scoring.sdr(acc, mix - v))
        print(f"  {track.name[:24]:24s} {label:50s} {out[label][0]:6.2f} {out[label][1]:6.2f}",
              flush=True)
    return out


def correlation(track, stem: str) -> float:
    """Left/right correlation of a true stem: how coherent (centred and dry) its image is."""
    x, _ = scoring.load(track / f"{stem}.wav")
    return float(np.corrcoef(x[0], x[1])[0, 1])


def main() -> int:
    ready = ml_quality.setup("ml_wiener", __doc__)
    if ready is None:
        return 1
    args, tracks, _ = ready
    bounce = np.array([loo.ScoreCache().scores(t, ml_quality.shipped_params()) for t in tracks])
    per = [track_scores(t) for t in tracks]
    names = [t.name.split("-")[0][:14] for t in tracks]
    shipped = np.array([p[ml_quality.SHIPPED] for p in per])
    lines = [f"Offline numpy on the engine's grid (4096/1024), {len(tracks)} tracks; SDR in dB "
             "(bss_eval, 512-tap filter), the vocal estimate and the mixture less it. The bounce's "
             "Spleeter as shipped: " + " ".join(f"{v:.2f}/{a:.2f}" for v, a in bounce)
             + " (here: " + " ".join(f"{v:.2f}/{a:.2f}" for v, a in shipped) + "). Left/right "
             "correlation of the true vocals/accompaniment: " + " ".join(
                 f"{correlation(t, 'vocals'):.2f}/{correlation(t, 'accompaniment'):.2f}"
                 for t in tracks) + ".", ""]
    tuned = [k for k in ROWS if not ROWS[k][2]]
    for j, stem in enumerate(("vocals", "accompaniment")):
        scores = {k: np.array([p[k][j] for p in per]) for k in ROWS}
        base = scores[ml_quality.SHIPPED]
        held, picks = loo.leave_one_out({k: scores[k] for k in tuned}, baseline=base,
                                        max_loss=ml_quality.MAX_LOSS, fallback=ml_quality.SHIPPED)
        rows = [(f"`{ml_quality.SHIPPED}`", base)] + [
            (f"`{k}` minus shipped", scores[k] - base) for k in ROWS if k != ml_quality.SHIPPED]
        gain = held - base
        met = gain.mean() >= TARGET_GAIN and gain.min() >= -ml_quality.MAX_LOSS
        lines += [f"**{stem}**", "", *loo.table(names, rows + [
            ("leave-one-out minus shipped", gain)]), "",
            "Chosen per held-out track: " + "; ".join(f"{n}: `{p}`" for n, p in zip(names, picks))
            + (f". Issue 14's target (+{TARGET_GAIN} dB on this mean, never more than "
               f"{ml_quality.MAX_LOSS} dB under on a track): {'met' if met else 'NOT met'}."), ""]
    lines += ["The MWF is not built into the engine. Estimated from the mask, the stereo image "
              "gains where a centred voice sits over a wider band (Mountaineering, the panned "
              "jpop voice) and loses about half a dB on Easton Ellises, whose voice is less "
              "correlated than its band; no setting of it passes the leave-one-out rule, which "
              "keeps choosing `ml_contrast` 0.6 alone. Even the true stems' covariances would add "
              "only about half a dB on the mean, over half of it from jpop: the stereo image cannot "
              "carry the ML presets to +0.5 dB held out on these tracks."]
    _common.publish("ml-wiener", "\n".join(lines), not args.no_write,
                    heading="## ML presets: a multichannel Wiener filter (`benchmarks/ml_wiener.py`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
