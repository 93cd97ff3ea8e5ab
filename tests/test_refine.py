"""The mask refinement knobs (percussion_reject, smooth_ms, smooth_hz, ambience_ms): they keep the
engine's contracts (block-size invariance, exact latency, stems summing to the input) and do
what they say on synthetic signals with a known answer."""

import numpy as np

from conftest import noise, pan, split_in_random_blocks
from panslice.dsp import Engine

SR = 44100
REFINED = {"percussion_reject": 1.0, "smooth_ms": 40.0, "smooth_hz": 20.0, "ambience_ms": 70.0,
           "width": 0.2, "softness": 0.8, "phase_tolerance": 0.8}


def test_refined_output_does_not_depend_on_block_partition():
    x = (pan(noise(30000, seed=11)[0], 0.0) + noise(30000, seed=12)).astype(np.float32)
    ref = Engine(REFINED).prepare(SR, 8192).process_split(x)
    eng = Engine(REFINED).prepare(SR, 8192)
    assert np.abs(split_in_random_blocks(eng, x) - ref).max() <= 1e-6


def test_refined_stems_sum_to_the_input_delayed_by_the_latency():
    x = noise(20000, seed=13, dtype=np.float64)
    eng = Engine(REFINED, unity=True).prepare(SR, 8192)
    lat = eng.latency_samples
    assert lat == eng.fft_size - 1  # the refinement looks at past frames only
    out = eng.process_split(x, np.empty((2, 2, x.shape[1])))
    total = out[0] + out[1]
    err = total[:, lat:] - x[:, : x.shape[1] - lat]
    assert 20 * np.log10(np.abs(err).max() / np.abs(x).max()) < -100


def test_percussion_reject_moves_clicks_out_of_a_centred_slice_and_keeps_a_tone():
    n = 3 * SR
    t = np.arange(n) / SR
    tone = pan(0.3 * np.sin(2 * np.pi * 440 * t), 0.0)
    clicks = np.zeros(n)
    clicks[SR // 4:: SR // 4] = 1.0  # 4 clicks a second, both centred
    x = (tone + pan(clicks, 0.0)).astype(np.float32)
    base = {"width": 0.2}
    lat = Engine(base).prepare(SR, 8192).latency_samples

    def parts(params):
        s = Engine(params, unity=True).prepare(SR, 8192).process_split(x)[0][:, lat:]
        spec = np.abs(np.fft.rfft(s[0]))
        f = np.fft.rfftfreq(s.shape[1], 1 / SR)
        near = np.abs(f - 440) < 20
        return np.sum(spec[near] ** 2), np.sum(spec[(f > 2000) & (f < 15000)] ** 2)

    tone_off, click_off = parts(base)
    tone_on, click_on = parts({**base, "percussion_reject": 1.0})
    assert 10 * np.log10(click_on / click_off) < -10      # clicks leave the slice
    assert abs(10 * np.log10(tone_on / tone_off)) < 1.0   # the steady tone stays


def test_smoothing_removes_isolated_bins_from_the_slice():
    # Wide noise (not in the slice) with a centred tone: the per-bin mask lets through scattered
    # noise bins that happen to look centred; the Wiener-like refinement removes most of them.
    n = 2 * SR
    t = np.arange(n) / SR
    x = (noise(n, seed=14) + pan(0.2 * np.sin(2 * np.pi * 1000 * t), 0.0)).astype(np.float32)
    lat = Engine().prepare(SR, 8192).latency_samples

    def leak(params):
        s = Engine(params, unity=True).prepare(SR, 8192).process_split(x)[0][:, lat:]
        spec = np.abs(np.fft.rfft(s[0]))
        f = np.fft.rfftfreq(s.shape[1], 1 / SR)
        return np.sum(spec[(f > 2000) & (f < 15000)] ** 2)

    plain = {"width": 0.2}
    assert 10 * np.log10(leak({**plain, "smooth_ms": 40.0, "smooth_hz": 20.0}) / leak(plain)) < -3


def test_percussion_reject_keeps_a_steady_tone_at_any_rate_and_fft_size():
    # With coarse bins (small FFT, high rate) the broadband average must still span more than
    # a tone's main lobe, or a steady tone would count as percussive.
    for sr, fft in ((192000, 512), (96000, 2048), (44100, 512), (22050, 8192)):
        t = np.arange(sr) / sr
        x = pan(0.3 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
        eng = Engine({"fft_size": fft, "percussion_reject": 1.0}, unity=True).prepare(sr, 8192)
        s = eng.process_split(x)[0][:, eng.latency_samples + 12000:]
        kept = 10 * np.log10(np.sum(s ** 2) / np.sum(x[:, 12000: x.shape[1] - eng.latency_samples] ** 2))
        assert kept > -1.5, (sr, fft, kept)
