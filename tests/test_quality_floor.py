"""Quality floors on real music (shipped presets, stems at unity, SDR as benchmarks/quality.py).

Issue 2: acapella beats the mid channel, karaoke beats sox oops. Issues 3 and 14: absolute
floors a little under the figures measured on the six shared tracks (RESULTS.md), karaoke never
worse than leaving the mixture alone on any track, and the ML presets never more than 0.2 dB
under Spleeter as shipped on any track, and above it on the mean.
"""

import numpy as np
import pytest

from benchmarks import scoring
from conftest import REAL_TRACKS, needs_real
from panslice.plugin.formats import presets
from panslice.plugin.offline.bounce import render

# Issue 14 measured (6 shared tracks, means): acapella vocals 3.66 dB, karaoke accompaniment
# 10.45 dB (width 0.4), karaoke at least 2.58 dB above the mixture on every track.
VOCAL_SDR_FLOOR = 3.2
ACC_SDR_FLOOR = 9.9
OVER_MIXTURE_DB = 2.0
# Issue 2's comparison, measured on the six: acapella over the mid channel +8.04 dB, karaoke
# over sox oops +16.83 dB (means; issue 2 asked for +3 and +6).
OVER_MID_DB = 7.5
OVER_OOPS_DB = 16.0
# acapella-ml / karaoke-ml against Spleeter as shipped, measured: per track at worst -0.13 /
# -0.13 dB, means +0.65 / +0.94 dB (karaoke-ml's ml_bias 0.5; ml_spatial's octave bands).
ML_MAX_LOSS_DB = 0.2
ML_MEAN_GAIN_DB = 0.5


@pytest.fixture(scope="module")
def scores():
    """Per track: SDR of the acapella vocal and karaoke accompaniment, and of the baselines."""
    s = {k: [] for k in ("voc", "acc", "mid", "oops", "mix_acc")}
    aca, kar = presets.load("acapella").params, presets.load("karaoke").params
    for t in REAL_TRACKS:
        mix, sr = scoring.load(t / "mixture.wav")
        voc, _ = scoring.load(t / "vocals.wav")
        acc, _ = scoring.load(t / "accompaniment.wav")
        mid = np.repeat(mix.mean(axis=0, keepdims=True), 2, axis=0)
        oops = np.repeat((mix[0] - mix[1])[None], 2, axis=0)  # what `sox oops` writes
        s["voc"].append(scoring.sdr(voc, render(mix, sr, aca, split=True, unity=True)[0]))
        s["acc"].append(scoring.sdr(acc, render(mix, sr, kar, split=True, unity=True)[1]))
        s["mid"].append(scoring.sdr(voc, mid))
        s["oops"].append(scoring.sdr(acc, oops))
        s["mix_acc"].append(scoring.sdr(acc, mix))
    return {k: np.array(v) for k, v in s.items()}


@needs_real
def test_acapella_beats_mid_and_karaoke_beats_oops_on_average(scores):
    voc_gain, acc_gain = scores["voc"] - scores["mid"], scores["acc"] - scores["oops"]
    print("vocal SDR gain over mid per track:", np.round(voc_gain, 2))
    print("accompaniment SDR gain over oops per track:", np.round(acc_gain, 2))
    assert voc_gain.mean() >= OVER_MID_DB
    assert acc_gain.mean() >= OVER_OOPS_DB


@needs_real
def test_issue3_floor_vocal_and_accompaniment_sdr(scores):
    print("acapella vocal SDR per track:", np.round(scores["voc"], 2))
    print("karaoke accompaniment SDR per track:", np.round(scores["acc"], 2))
    assert scores["voc"].mean() >= VOCAL_SDR_FLOOR
    assert scores["acc"].mean() >= ACC_SDR_FLOOR


@needs_real
def test_karaoke_never_worse_than_the_unprocessed_mixture(scores):
    # Before issue 3 the karaoke accompaniment lost 2.7 dB to the mixture itself on one track
    # (it removed the centred drums and bass with the voice).
    margin = scores["acc"] - scores["mix_acc"]
    assert np.all(margin > OVER_MIXTURE_DB), np.round(margin, 2)


@needs_real
@pytest.mark.slow
def test_the_ml_presets_do_no_harm_against_spleeter_as_shipped(model_cache, monkeypatch):
    """Issue 14: steering Spleeter's mask never costs more than ML_MAX_LOSS_DB on a track
    (ml_spatial's one band steps aside where voice and band overlap in the image, its octave
    bands speak only as far as their sure bins sit apart) and gains on the mean."""
    from panslice.dsp import params as P, spleeter as S
    from panslice.plugin.ml import model, prior as ml_prior

    monkeypatch.setattr(ml_prior, "_net", S.Spleeter(model.load(model_cache / "panslice" / model.MODEL_NAME)))
    shipped = P.ParamSet({"width": 2.0, "phase_tolerance": 1.0, "fft_size": 4096, "ml_prior": 1.0})
    shipped.set_bands([(0.0, 96000.0, 0.0)])
    aca, kar = presets.load("acapella-ml").params, presets.load("karaoke-ml").params
    gain = []
    for t in REAL_TRACKS:
        mix, sr = scoring.load(t / "mixture.wav")
        voc, acc = scoring.load(t / "vocals.wav")[0], scoring.load(t / "accompaniment.wav")[0]
        base = render(mix, sr, shipped, split=True, unity=True)
        v = render(mix, sr, aca, split=True, unity=True)[0]
        a = render(mix, sr, kar, split=True, unity=True)[1]
        gain.append((scoring.sdr(voc, v) - scoring.sdr(voc, base[0]),
                     scoring.sdr(acc, a) - scoring.sdr(acc, base[1])))
    gain = np.array(gain)
    print("ML presets minus Spleeter as shipped per track (vocals, accompaniment):", np.round(gain, 2))
    assert np.all(gain >= -ML_MAX_LOSS_DB)
    assert np.all(gain.mean(axis=0) >= ML_MEAN_GAIN_DB)
