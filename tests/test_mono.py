"""Mono recordings (issue 14 item 5): a mono file, or one channel picked with --channels, goes
through bounce, analyze and live; mono in gives mono out, and the command says once that the
azimuth knobs have nothing to act on. With the model, the ML prior chooses the slice."""

import json

import numpy as np
import pytest

from conftest import REAL_TRACKS, needs_real, noise, read_wav, run_cli, write_wav
from benchmarks import scoring
from panslice.plugin.formats import audiofile
from panslice.plugin.formats.audiostream import StereoReader

SR = 44100


def mono_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "mono (one channel)" in ln]


def test_a_mono_file_reads_as_two_equal_channels(tmp_path):
    x = noise(3000)
    m = write_wav(tmp_path / "m.wav", x[:1])
    s = write_wav(tmp_path / "s.wav", x)
    with StereoReader(m) as r:
        got = r.read(5000)
        assert r.mono and got.shape == (2, 3000) and np.array_equal(got[0], got[1])
    with StereoReader(s, [2]) as r:
        assert r.mono and np.array_equal(r.read(5000), x[[1, 1]])
    with StereoReader(s) as r:
        assert not r.mono
    audio, _, mono = audiofile.read_input(s, [2])
    assert mono and np.array_equal(audio, x[[1, 1]])
    with pytest.raises(audiofile.AudioFileError, match="one or two of channels 1..2"):
        audiofile.read_input(s, [3])


@pytest.mark.parametrize("preset", ["vocal-lift", "karaoke"])
def test_mono_in_mono_out_stems_sum_back_said_once(tmp_path, no_model, preset):
    src = write_wav(tmp_path / "mono.wav", noise(SR)[:1])
    r = run_cli("bounce", src, "--preset", preset, "--stems", "-o", tmp_path / "st",
                "--bit-depth", "32", env=no_model)
    assert r.returncode == 0, r.stderr
    said = mono_lines(r.stderr)
    assert len(said) == 1 and "nothing to act on" in said[0] and "model install" in said[0], r.stderr
    st = tmp_path / "st"
    v, a, x = read_wav(st / "vocals.wav"), read_wav(st / "accompaniment.wav"), read_wav(src)
    assert v.shape == a.shape == x.shape == (1, SR)
    assert np.abs(v + a - x).max() < 1e-6


def test_channels_picks_one_channel_of_a_stereo_file(tmp_path, no_model):
    x = noise(SR)
    both = write_wav(tmp_path / "both.wav", x)
    right = write_wav(tmp_path / "right.wav", x[1:])
    for inp, out, extra in ((both, "picked.wav", ["--channels", "2"]), (right, "mono.wav", [])):
        r = run_cli("bounce", inp, *extra, "--preset", "karaoke", "-o", tmp_path / out,
                    "--bit-depth", "32", "-q", env=no_model)
        assert r.returncode == 0, r.stderr
    picked, mono = read_wav(tmp_path / "picked.wav"), read_wav(tmp_path / "mono.wav")
    assert picked.shape == (1, SR) and np.array_equal(picked, mono)


def model_file():
    from panslice.plugin.ml import model

    return model.MODEL_NAME


def test_analyze_says_mono_and_recommends_the_ml_prior(tmp_path, no_model):
    src = write_wav(tmp_path / "mono.wav", noise(SR)[:1])
    r = run_cli("analyze", src, "--json", env=no_model)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["mono"] is True and rep["lr_correlation"] == pytest.approx(1.0)
    assert "ml_prior" not in rep["suggestion"] and "ml_prior=1" in rep["because"]  # not installed
    model = tmp_path / "cache" / "panslice" / model_file()
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")   # analyze only asks whether it is there
    r = run_cli("analyze", src, "--suggest", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert "mono (one channel)" in r.stdout and "--set ml_prior=1" in r.stdout, r.stdout


def test_sources_refuse_a_mono_file_in_one_line(tmp_path):
    src = write_wav(tmp_path / "mono.wav", noise(SR)[:1])
    r = run_cli("bounce", src, "--sources", "-o", tmp_path / "src")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"panslice: error: {src}: is mono; there are no directions to find sources by (without "
        "--sources, the ML prior separates a mono file)"]


def test_file_driven_live_on_a_mono_file_writes_mono_as_the_bounce(tmp_path, no_model):
    src = write_wav(tmp_path / "mono.wav", noise(SR // 2)[:1])
    heard = tmp_path / "heard.wav"
    r = run_cli("live", "--no-osc", "--input-file", src, "--output-file", heard, "--output", "none",
                "--preset", "karaoke", "--buffer", "1024", "--bit-depth", "32", env=no_model)
    assert r.returncode == 0, r.stderr
    assert len(mono_lines(r.stderr)) == 1, r.stderr
    r = run_cli("bounce", src, "--preset", "karaoke", "-o", tmp_path / "b.wav", "--bit-depth", "32",
                "-q", env=no_model)
    assert r.returncode == 0, r.stderr
    y, b = read_wav(heard), read_wav(tmp_path / "b.wav")
    lat = 2047
    assert y.shape == (1, b.shape[1] + lat) and np.array_equal(y[:, lat:], b)


@needs_real
@pytest.mark.slow
def test_acapella_ml_on_a_mono_fold_reaches_spleeter_and_sums_back(tmp_path, model_cache):
    """Issue 14: on a mono fold of a shared track, acapella-ml's vocals reach at least Spleeter
    as shipped's, and its stems still sum back to the mono input."""
    track = next(t for t in REAL_TRACKS if t.name.startswith("Music_Delta"))
    mix, _ = scoring.load(track / "mixture.wav")
    voc = scoring.load(track / "vocals.wav")[0].mean(axis=0, keepdims=True)
    src = write_wav(tmp_path / "fold.wav", mix.mean(axis=0, keepdims=True))
    env = {"XDG_CACHE_HOME": str(model_cache)}
    got = {}
    for name, settings in (("preset", ["--preset", "acapella-ml"]),
                           ("shipped", ["--preset", "acapella-ml", "--set", "ml_contrast=1",
                                        "--set", "ml_spatial=0"])):   # the model's mask alone
        r = run_cli("bounce", src, *settings, "--stems", "-o", tmp_path / name, "--bit-depth", "32",
                    "-q", env=env)
        assert r.returncode == 0, r.stderr
        v, a = read_wav(tmp_path / name / "vocals.wav"), read_wav(tmp_path / name / "accompaniment.wav")
        assert v.shape[0] == 1 and np.abs(v + a - read_wav(src)).max() < 1e-5
        got[name] = scoring.sdr(voc, v)
    print("mono fold, vocals SDR:", got)
    assert got["preset"] >= got["shipped"]
