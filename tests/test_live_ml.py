"""The ML prior live: the look-ahead (reported as latency), the worker thread, the fallback
when the network is late. Tests with the real network skip, saying why, where the model
cannot be installed (see tests/conftest.py ``model_cache``)."""

from __future__ import annotations

import functools
import re
import threading

import numpy as np
import pytest
import soundfile as sf

from conftest import ListStream, pan, run_cli
from panslice.dsp import spleeter as S
from panslice.plugin.offline import bounce
from panslice.plugin.live import loop as live
from panslice.plugin.ml import lookahead as ml_live, prior as ml_prior, model
from panslice.plugin.formats import presets
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage

SR = 44100
FIXTURE_MIX = "fixtures/spleeter_masks.npz"   # 3 s of music with a voice (see test_spleeter.py)


class ConstantNet:
    """Stands in for Spleeter: the same vocal mask everywhere; ``gate`` (an Event) holds every
    patch with sound in it back until it is set (a network far too slow for real time; the
    worker's warm-up on silence goes through)."""

    def __init__(self, value=1.0, gate=None):
        self.value, self.gate = value, gate

    def vocal_mask(self, mag, run=None):
        if self.gate is not None and mag.any():
            self.gate.wait()
        return np.full(mag.shape, self.value, np.float32)


@pytest.fixture(scope="module")
def music():
    from pathlib import Path

    mix = np.load(Path(__file__).parent / FIXTURE_MIX)["mix"].astype(np.float32) / 32767
    return np.concatenate([mix, mix[:, ::-1]], axis=1)          # 6 s: several short patches


@pytest.fixture(scope="module")
def net(model_cache):
    return S.Spleeter(model.load(model_cache / "panslice" / model.MODEL_NAME))


def run_live(params, audio, patch, net, block=512, settle=True, before_close=None, rate=SR):
    chain = Chain([Stage(params)])
    stage, = ml_live.attach(chain, patch, net)
    chain.prepare(rate, block)
    stream = ListStream(audio, rate, stage.wait_idle if settle else None)
    try:
        rep = live.run(chain, stream, block)
    finally:
        if before_close:
            before_close()
        stage.close()
    return stream.heard(), chain, stage, rep


def offline(params, audio, patch, net, monkeypatch, rate=SR):
    """The bounce, with the live patch size."""
    monkeypatch.setattr(ml_prior, "_net", net)
    monkeypatch.setattr(ml_prior, "PriorFeed", functools.partial(ml_prior.PriorFeed, patch=patch))
    return bounce.render(audio, rate, params)


# -- the look-ahead -------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [44100.0, 48000.0, 22050.0])
@pytest.mark.parametrize("patch", [64, 128, 512])
def test_lookahead_covers_every_patch_two_blocks_before_its_first_frame(rate, patch):
    block = 512
    pt = ml_prior.Patcher(ConstantNet(), 4096, 1024, rate, patch)
    la = ml_live.lookahead(pt, block)
    assert la % 1024 == 0
    for k in range(40):
        f0 = pt.first_frame(k)
        # frame f0 is due when the delayed input reaches its end: input (f0+1)*hop + la
        assert pt.span(k)[1] <= (f0 + 1) * 1024 + la - 2 * block
    # and no more than that plus the headroom and a hop of rounding
    reach = max(pt.span(k)[1] - (pt.first_frame(k) + 1) * 1024 for k in range(40))
    headroom = ml_live.HEADROOM * patch * S.HOP / S.SAMPLE_RATE * rate
    assert la <= reach + 2 * block + headroom + 1024 + 1


@pytest.mark.slow
def test_impulse_comes_out_at_the_reported_latency():
    x = np.zeros((2, 5 * SR), np.float32)
    x[:, 3 * SR] = 0.5                                        # centre-panned click at 3 s
    # the slice only, every azimuth in, ml_prior 1 and a net that says "all voice": all passes
    ps = {"width": 2.0, "phase_tolerance": 1.0, "rest_gain_db": float("-inf"), "ml_prior": 1.0,
          "fft_size": 4096}
    heard, chain, stage, rep = run_live(ps, x, 64, ConstantNet(1.0))
    lat = chain.latency_samples
    # blocks of 64, shorter than the 1024-sample hop: the engine spreads its work, a hop later
    assert lat == stage.engine.latency_samples + stage.lookahead == 4095 + 1024 + stage.lookahead
    assert rep.prior_missed == 0 and "ML prior: 0 frames without their row" in rep.summary()
    assert int(np.argmax(np.abs(heard[0]))) == 3 * SR + lat
    # Spleeter's masks stop at 11 kHz (half the band): the click comes out low-passed there
    np.testing.assert_allclose(heard[:, 3 * SR + lat], 0.25, atol=1e-3)
    assert np.abs(heard[:, :3 * SR + lat - 4096]).max() < 1e-6      # (its ringing: one frame)


# -- never waiting for the network ----------------------------------------------------------------
def test_a_late_network_never_holds_the_loop_the_frames_fall_back_and_are_counted():
    x = pan(0.2 * np.sin(2 * np.pi * 440 * np.arange(4 * SR) / SR), 0.0).astype(np.float32)
    x += np.random.default_rng(4).standard_normal(x.shape).astype(np.float32) * 0.05
    ps = presets.load("acapella-ml").params
    gate = threading.Event()   # the network blocks until the session is over
    heard, chain, stage, rep = run_live(ps, x, 64, ConstantNet(0.0, gate), settle=False,
                                        before_close=gate.set)
    la = stage.lookahead
    content = -(-(x.shape[1] + 4095) // 1024)                 # frames with input in them
    assert rep.prior_missed == stage.missed >= content - 1 and stage.missed <= content + 1
    # Every frame got the plain slice: the engine without any prior, la samples later.
    plain = Chain([Stage(ps)]).prepare(SR, 512)
    ref = ListStream(x)
    live.run(plain, ref, 512)
    np.testing.assert_array_equal(heard[:, la:], ref.heard()[:, :heard.shape[1] - la])
    assert np.abs(heard).max() > 0.1                        # (the prior of 0 would have muted it)


# -- the real network -----------------------------------------------------------------------------
@pytest.mark.parametrize("patch, rate", [(64, 44100), (128, 44100), (64, 48000)])
def test_live_acapella_ml_is_the_bounce_with_the_same_patches_after_the_latency(music, net, patch,
                                                                                 rate, monkeypatch):
    from scipy.signal import resample_poly

    x = music if rate == SR else resample_poly(music, 160, 147, axis=1).astype(np.float32)
    ps = presets.load("acapella-ml").params
    heard, chain, stage, rep = run_live(ps, x, patch, net, rate=rate)
    lat = chain.latency_samples
    assert rep.prior_missed == 0 and stage.error is None
    assert heard.shape == (2, x.shape[1] + lat)
    want = offline(ps, x, patch, net, monkeypatch, rate)
    np.testing.assert_allclose(heard[:, lat:], want, atol=1e-6)   # measured: identical (0.0)
    assert np.abs(want - x).max() > 0.05                          # the prior did something
    # ... and something else than the 512-frame bounce (the patch size is what it says)
    monkeypatch.undo()
    assert np.abs(offline(ps, x, 512, net, monkeypatch, rate) - want).max() > 1e-3


def test_cli_live_acapella_ml_reports_its_latency_and_plays_the_bounce(music, net, model_cache,
                                                                       tmp_path, monkeypatch):
    """The real path: a paced file, the network in its thread, nothing waits for it."""
    song, heard = tmp_path / "song.wav", tmp_path / "heard.wav"
    x = music[:, :3 * SR]
    sf.write(song, x.T, SR, subtype="FLOAT")
    r = run_cli("live", "--no-osc", "--input-file", song, "--output", "none", "--output-file", heard,
                "--bit-depth", "32", "--preset", "acapella-ml", "--ml-patch", "64",
                env={"XDG_CACHE_HOME": str(model_cache)})
    assert r.returncode == 0, r.stderr
    la = ml_live.lookahead(ml_prior.Patcher(net, 4096, 1024, SR, 64), 512)
    lat = 4095 + 1024 + la   # a frame, and a hop: blocks of 512 spread the engine's work
    assert f"latency {lat} samples" in r.stderr and f"look-ahead {la} samples" in r.stderr, r.stderr
    assert re.search(r"ML prior: \d+ patches of 1.5 s, .*x real time\)", r.stderr), r.stderr
    missed = int(re.search(r"ML prior: (\d+) frames without their row", r.stderr).group(1))
    y, _ = sf.read(heard, dtype="float32")
    assert y.shape == (x.shape[1] + lat, 2)
    want = offline(presets.load("acapella-ml").params, x, 64, net, monkeypatch)
    # Where the network was in time (on an idle machine: every frame) it is the bounce; a frame
    # whose row came late changes at most the fft_size samples it is part of.
    wrong = int(np.sum(np.abs(y[lat:].T - want).max(axis=0) > 1e-6))
    assert wrong <= missed * 4096, (wrong, missed)


def test_live_ml_without_the_model_says_how_to_install(home, tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((4410, 2), np.float32), SR)
    r = run_cli("live", "--no-osc", "--input-file", song, "--output", "none", "--output-file",
                tmp_path / "heard.wav", "--preset", "karaoke-ml")
    assert r.returncode == 1 and not (tmp_path / "heard.wav").exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "panslice model install" in r.stderr


def test_the_help_states_the_live_patch_default():
    r = run_cli("live", "--help")
    assert f"default: {ml_live.LIVE_PATCH}," in " ".join(r.stdout.split())


def test_bounce_of_a_chain_with_an_ml_stage_gets_its_prior(music, model_cache, tmp_path):
    """bounce --chain runs Spleeter on the stage's own input, as live, and waits for every row:
    a chain of the one stage gives the preset's bounce exactly."""
    song = tmp_path / "song.wav"
    sf.write(song, music.T, SR, subtype="FLOAT")
    f = tmp_path / "ml.toml"
    f.write_text('[[step]]\nplugin = "panslice"\npreset = "acapella-ml"\n')
    env = {"XDG_CACHE_HOME": str(model_cache)}
    outs = []
    for how in (["--chain", f], ["--preset", "acapella-ml"]):
        out = tmp_path / f"out{len(outs)}.wav"
        r = run_cli("bounce", song, *how, "-o", out, "--bit-depth", "32", "-q", env=env)
        assert r.returncode == 0, r.stderr
        outs.append(sf.read(out, dtype="float32")[0])
    assert outs[0].shape == music.T.shape
    assert np.array_equal(outs[0], outs[1])
    # and the prior is what makes it: without it (what a chain's bounce used to give) it differs
    r = run_cli("bounce", song, "--chain", f, "--set", "ml_prior=0", "-o", tmp_path / "no-ml.wav",
                "--bit-depth", "32", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert np.abs(sf.read(tmp_path / "no-ml.wav", dtype="float32")[0] - outs[0]).max() > 1e-2


def test_a_stage_in_a_split_branch_gets_its_prior_too():
    # an ML stage inside another stage's slice branch: found, given the look-ahead, and its
    # latency reaches the chain's through the split's alignment
    inner = Stage(presets.load("acapella-ml").params)
    outer = Stage({"width": 0.3}, target=Chain([inner]))
    chain = Chain([outer])
    found = ml_live.attach(chain, 64, ConstantNet(1.0))
    try:
        assert len(found) == 1 and outer.target.steps[0] is found[0]
        chain.prepare(SR, 512)
        assert found[0].lookahead > 0
        assert chain.latency_samples == outer.engine.latency_samples + found[0].latency_samples
    finally:
        found[0].close()
