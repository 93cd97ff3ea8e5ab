"""The offline bounce from the command line: outputs, alignment, and every kind of bad input."""

import os
import stat

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli
from panslice.plugin.formats import presets
from panslice.plugin.offline.bounce import render

SR = 44100


def write(path, audio, sr=SR, subtype="PCM_24"):
    sf.write(str(path), np.asarray(audio).T, sr, subtype=subtype)
    return path


@pytest.fixture
def song(tmp_path):
    t = np.arange(2 * SR) / SR
    x = 0.5 * pan(np.sin(2 * np.pi * 330 * t), 0.0) + pan(noise(2 * SR)[0], -0.7)
    return write(tmp_path / "song.wav", x, subtype="FLOAT")


def read(path):
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.T, sr


def test_stems_are_aligned_named_by_preset_and_sum_to_the_input(tmp_path, song):
    r = run_cli("bounce", song, "--preset", "acapella", "--stems", "-o", tmp_path / "stems",
                "--bit-depth", "32")
    assert r.returncode == 0, r.stderr
    x, _ = read(song)
    v, sr = read(tmp_path / "stems" / "vocals.wav")
    a, _ = read(tmp_path / "stems" / "accompaniment.wav")
    assert sr == SR and v.shape == x.shape == a.shape
    assert np.abs(v + a - x).max() < 1e-5
    # aligned: the centre sine lands in the vocal stem at the same sample position
    t = np.arange(2 * SR) / SR
    sine = 0.5 * pan(np.sin(2 * np.pi * 330 * t), 0.0)
    mid = slice(5000, 80000)
    assert np.corrcoef(v[0, mid], sine[0, mid])[0, 1] > 0.95


def test_mix_output_and_set_overrides(tmp_path, song):
    out = tmp_path / "karaoke.flac"
    r = run_cli("bounce", song, "-o", out, "--preset", "karaoke", "--set", "width=0.3", "-q")
    assert r.returncode == 0 and r.stdout == "", (r.stdout, r.stderr)
    y, _ = read(out)
    x, _ = read(song)
    assert y.shape == x.shape
    assert np.sum(y ** 2) < np.sum(x ** 2)  # the centre sine was removed


def test_bad_set_value_names_parameter_and_range(tmp_path, song):
    r = run_cli("bounce", song, "--set", "center=4", "-o", tmp_path / "o.wav")
    assert r.returncode == 1
    assert r.stderr.strip() == "panslice: error: center=4 is out of range (valid: -1 .. 1)"
    assert not (tmp_path / "o.wav").exists()


def no_leftovers(folder, allowed):
    return sorted(p.name for p in folder.iterdir()) == sorted(allowed)


@pytest.mark.parametrize("case", ["multichannel", "corrupt", "missing", "empty", "folder"])
def test_bad_inputs_fail_cleanly(tmp_path, case):
    src = tmp_path / f"{case}.wav"
    if case == "multichannel":
        write(src, np.concatenate([noise(SR), noise(SR, 1)]))
        expect = "has 4 channels; pick two with --channels"
    elif case == "corrupt":
        src.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
        expect = "not a readable audio file"
    elif case == "missing":
        expect = "no such file"
    elif case == "empty":
        write(src, np.zeros((2, 0)))
        expect = "contains no audio (zero length)"
    else:
        src.mkdir()
        expect = "is a folder"
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli("bounce", src, "-o", tmp_path / "out.wav")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(src) in lines[0] and expect in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial output


def test_multichannel_with_channels_option_works(tmp_path):
    src = write(tmp_path / "four.wav", np.concatenate([noise(SR), noise(SR, 1)]))
    r = run_cli("bounce", src, "--channels", "3,4", "--stems", "-o", tmp_path / "st", "-q")
    assert r.returncode == 0, r.stderr
    v, _ = read(tmp_path / "st" / "vocals.wav")
    a, _ = read(tmp_path / "st" / "accompaniment.wav")
    x, _ = read(src)
    assert np.abs(v + a - x[2:]).max() < 1e-3


def test_nan_and_inf_samples_are_replaced_with_a_warning(tmp_path):
    x = noise(SR)
    x[0, 100] = np.nan
    x[1, 200] = np.inf
    src = write(tmp_path / "nan.wav", x, subtype="FLOAT")
    r = run_cli("bounce", src, "-o", tmp_path / "o.wav", "-q")
    assert r.returncode == 0, r.stderr
    assert "2 NaN/Inf samples replaced with silence" in r.stderr
    y, _ = read(tmp_path / "o.wav")
    assert np.isfinite(y).all() and y.shape == x.shape


def test_unwritable_output_folder(tmp_path, song):
    if os.geteuid() == 0:
        # root ignores permission bits, so make the "folder" a file instead
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        target = blocker / "sub" / "o.wav"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        target = ro / "o.wav"
    r = run_cli("bounce", song, "-o", target)
    assert r.returncode == 1 and "cannot create output folder" in r.stderr or "not writable" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_input_is_never_overwritten(tmp_path, song):
    before = song.read_bytes()
    r = run_cli("bounce", song, "-o", song)
    assert r.returncode == 1 and "would overwrite the input" in r.stderr
    assert song.read_bytes() == before


def test_unknown_output_format_is_refused_before_work(tmp_path, song):
    r = run_cli("bounce", song, "-o", tmp_path / "out.xyz")
    assert r.returncode == 1 and "cannot write '.xyz' files" in r.stderr


def test_render_applies_stamped_changes_independently_of_blocking():
    x = noise(60000, seed=9)
    ps = presets.load("karaoke").params
    changes = [(10000, "target_gain_db", 0.0), (33333, "width", 0.5), (50001, "rest_gain_db", -6.0)]
    a = render(x, SR, ps, changes=changes)
    b = render(x, SR, ps, changes=changes, block=777)
    assert np.abs(a - b).max() <= 1e-6
    assert np.abs(a - render(x, SR, ps)).max() > 1e-3  # the changes did something


def test_help_is_useful():
    r = run_cli("--help")
    assert r.returncode == 0 and "bounce" in r.stdout and "demo" in r.stdout
    r = run_cli("bounce", "--help")
    assert "--stems" in r.stdout and "--preset" in r.stdout and "--set" in r.stdout


@pytest.mark.slow
def test_demo_runs_and_reports(tmp_path):
    r = run_cli("demo", "-o", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    assert "vocal SDR" in r.stdout
    vocal_sdr = float(r.stdout.split("vocal SDR")[1].split("dB")[0])
    mid_sdr = float(r.stdout.split("(mid channel (L+R)/2:")[1].split("dB")[0])
    assert vocal_sdr > mid_sdr + 6
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {"mixture.wav", "vocals.wav", "accompaniment.wav"}


def test_a_failed_stems_bounce_leaves_no_empty_folder(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    r = run_cli("bounce", bad, "--stems", "-o", tmp_path / "new" / "stems")
    assert r.returncode == 1 and "not a readable audio file" in r.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_a_cold_numba_cache_is_announced_and_a_warm_one_is_not(tmp_path):
    # (a missing input stops the bounce before anything compiles: the notice comes first)
    missing = tmp_path / "missing.wav"
    cold = run_cli("bounce", missing, env={"NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert cold.returncode == 1 and "compiling the engine (first run only" in cold.stderr
    assert "missing.wav" in cold.stderr.splitlines()[-1]
    render(noise(4096), 44100, presets.load("karaoke").params)  # this process: cache is warm
    warm = run_cli("bounce", missing)
    assert warm.returncode == 1 and "compiling" not in warm.stderr
    quiet = run_cli("bounce", missing, "-q", env={"NUMBA_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert quiet.returncode == 1 and "compiling" not in quiet.stderr
