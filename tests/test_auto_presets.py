"""The ``auto`` presets (issue 14 item 4): a bounce sets the slice from analyze's measurement of
the file's voice (centre, width from its spread), says what it chose, and is then exactly the
fixed preset with those two values; --set center/width wins; an all but mono mix is not sliced."""

import re

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli, write_wav
from panslice.plugin.formats import presets

SR = 44100


@pytest.fixture
def song(tmp_path):
    t = np.arange(3 * SR) / SR
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((330, 660, 990, 1320), 1))
    return write_wav(tmp_path / "song.wav", 0.3 * pan(voice, 0.3) + pan(noise(3 * SR)[0], -0.7))


def test_auto_tables_are_checked():
    with pytest.raises(presets.PresetError, match=r"\[auto\] must hold exactly"):
        presets.parse('[auto]\nper_spread = 3\n', "x", "x.toml")
    with pytest.raises(presets.PresetError, match="min_width <= max_width"):
        presets.parse('[auto]\nper_spread = 3\nmin_width = 0.5\nmax_width = 0.2\n', "x", "x.toml")
    for name in ("auto", "auto-karaoke"):
        assert presets.load(name).auto is not None
    assert presets.load("karaoke").auto is None


@pytest.mark.parametrize("name, fixed", [("auto", "acapella"), ("auto-karaoke", "karaoke")])
def test_auto_is_the_fixed_preset_with_the_measured_slice(tmp_path, song, no_model, name, fixed):
    r = run_cli("bounce", song, "--preset", name, "-o", tmp_path / "auto.wav", "--bit-depth", "32",
                env=no_model)
    assert r.returncode == 0, r.stderr
    said = re.search(r"auto: the voice sits at \+0\.3\d, half-width [0-9.]+: center=(\S+) width=(\S+)",
                     r.stderr)
    assert said, r.stderr
    center, width = said.groups()
    assert float(center) == pytest.approx(0.3, abs=0.02)
    r = run_cli("bounce", song, "--preset", fixed, "--set", f"center={center}", "--set", f"width={width}",
                "-o", tmp_path / "fixed.wav", "--bit-depth", "32", "-q", env=no_model)
    assert r.returncode == 0, r.stderr
    a, _ = sf.read(str(tmp_path / "auto.wav"), dtype="float32")
    b, _ = sf.read(str(tmp_path / "fixed.wav"), dtype="float32")
    assert np.array_equal(a, b)


def test_set_center_or_width_turns_the_measurement_off(tmp_path, song, no_model):
    r = run_cli("bounce", song, "--preset", "auto", "--set", "width=0.3", "-o", tmp_path / "o.wav",
                env=no_model)
    assert r.returncode == 0 and "auto:" not in r.stderr, r.stderr


def test_an_all_but_mono_mix_is_not_sliced_by_azimuth(tmp_path, no_model):
    x = noise(SR)
    src = write_wav(tmp_path / "near.wav", np.stack([x[0], x[0] + 0.03 * x[1]]))
    r = run_cli("bounce", src, "--preset", "auto-karaoke", "-o", tmp_path / "o.wav", env=no_model)
    assert r.returncode == 0, r.stderr
    assert "auto: all but mono (L/R correlation 0.99" in r.stderr, r.stderr
