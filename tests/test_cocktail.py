"""Speech from spaced microphones: rates from 8 kHz, the delay axis, finding sources."""

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, run_cli
from panslice.dsp import Engine
from test_engine import random_partition, stream


def test_a_16_khz_file_bounces_into_stems_that_sum_back(tmp_path):
    x = noise(3 * 16000, seed=4)
    sf.write(str(tmp_path / "talk.wav"), x.T, 16000, subtype="FLOAT")
    r = run_cli("bounce", tmp_path / "talk.wav", "--stems", "--bit-depth", "32", "-o",
                tmp_path / "stems")
    assert r.returncode == 0, r.stderr
    stems = [sf.read(str(f), dtype="float32")[0].T for f in sorted((tmp_path / "stems").iterdir())]
    assert len(stems) == 2 and sf.info(str(next((tmp_path / "stems").iterdir()))).samplerate == 16000
    assert np.abs(sum(stems) - x).max() < 1e-5


@pytest.mark.parametrize("max_block", [8192, 64])  # batched, and spread
def test_at_8_khz_the_output_does_not_depend_on_the_blocks(max_block):
    x = noise(20000, seed=6)
    settings = {"fft_size": 512, "width": 0.3, "rest_gain_db": -12}
    ref = Engine(settings).prepare(8000, max_block).process_split(x)
    sizes = random_partition(x.shape[1], np.random.default_rng(2), hi=3000)
    got = stream(Engine(settings).prepare(8000, max_block), x, sizes, split=True)
    assert np.abs(got - ref).max() <= 1e-6 and np.abs(ref).max() > 0
