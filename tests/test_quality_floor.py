"""Issue 2's floor on real music: acapella beats the mid channel, karaoke beats sox oops."""

import numpy as np

from benchmarks import scoring
from conftest import REAL_TRACKS, needs_real
from panslice.plugin import presets
from panslice.plugin.bounce import render


def _scores():
    voc_gain, acc_gain = [], []
    aca, kar = presets.load("acapella").params, presets.load("karaoke").params
    for t in REAL_TRACKS:
        mix, sr = scoring.load(t / "mixture.wav")
        voc, _ = scoring.load(t / "vocals.wav")
        acc, _ = scoring.load(t / "accompaniment.wav")
        v_est = render(mix, sr, aca, split=True, unity=True)[0]
        a_est = render(mix, sr, kar, split=True, unity=True)[1]
        mid = np.repeat(mix.mean(axis=0, keepdims=True), 2, axis=0)
        oops = np.repeat((mix[0] - mix[1])[None], 2, axis=0)  # what `sox oops` writes
        voc_gain.append(scoring.sdr(voc, v_est) - scoring.sdr(voc, mid))
        acc_gain.append(scoring.sdr(acc, a_est) - scoring.sdr(acc, oops))
    return np.array(voc_gain), np.array(acc_gain)


@needs_real
def test_acapella_beats_mid_and_karaoke_beats_oops_on_average():
    voc_gain, acc_gain = _scores()
    print("vocal SDR gain over mid per track:", np.round(voc_gain, 2))
    print("accompaniment SDR gain over oops per track:", np.round(acc_gain, 2))
    assert voc_gain.mean() >= 3.0
    assert acc_gain.mean() >= 6.0
