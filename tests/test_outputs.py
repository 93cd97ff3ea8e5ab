"""What a bounce writes and where: never over an existing file unless told, never two results to
one name, with the umask's mode, at a level that does not clip, at the input's bit depth."""

import os

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli
from panslice.plugin.formats import atomic, audiofile

SR = 44100


def write(path, audio, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio).T, SR, subtype=subtype)
    return path


@pytest.fixture
def song(tmp_path):
    return write(tmp_path / "song.wav", noise(SR))


def test_an_existing_output_is_refused_unless_overwrite(tmp_path, song):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    r = run_cli("bounce", song, "-o", out, "-q")
    assert r.returncode == 1 and "exists already" in r.stderr and "--overwrite" in r.stderr
    assert out.read_bytes() == b"precious"
    r = run_cli("bounce", song, "-o", out, "-q", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sf.info(str(out)).frames == SR
    stems = tmp_path / "stems"
    assert run_cli("bounce", song, "--stems", "-o", stems, "-q").returncode == 0
    r = run_cli("bounce", song, "--stems", "-o", stems, "-q")
    assert r.returncode == 1 and "vocals.wav: exists already" in r.stderr
    assert run_cli("bounce", song, "--stems", "-o", stems, "-q", "-y").returncode == 0


def test_inputs_of_one_name_get_outputs_of_their_own(tmp_path):
    a = write(tmp_path / "a" / "mixture.wav", noise(SR, seed=1))
    b = write(tmp_path / "b" / "mixture.wav", noise(SR, seed=2))
    r = run_cli("bounce", a, b, "--stems", "-o", tmp_path / "same", "-j", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "same").iterdir()) == [
        "a-mixture-karaoke", "b-mixture-karaoke"]
    va, _ = sf.read(str(tmp_path / "same" / "a-mixture-karaoke" / "vocals.wav"))
    vb, _ = sf.read(str(tmp_path / "same" / "b-mixture-karaoke" / "vocals.wav"))
    assert not np.array_equal(va, vb)
    r = run_cli("bounce", a, a, "-o", tmp_path / "twice")
    assert r.returncode == 1 and "would be written there" in r.stderr


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        audiofile.write_stereo(tmp_path / "o.wav", noise(1000), SR)
        with atomic.atomic_path(tmp_path / "p.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    for name in ("o.wav", "p.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.fixture
def loud(tmp_path):
    """A centre tone at -1.4 dBFS: vocal-lift's +6 dB takes it past full scale."""
    t = np.arange(SR // 2) / SR
    return write(tmp_path / "loud.wav", pan(1.2 * np.sin(2 * np.pi * 440 * t), 0.0))


def test_a_render_that_would_clip_is_lowered_and_said(tmp_path, loud):
    r = run_cli("bounce", loud, "--preset", "vocal-lift", "-o", tmp_path / "l.flac", "-q")
    assert r.returncode == 0, r.stderr
    assert "would clip" in r.stderr and "dBTP" in r.stderr
    y, _ = sf.read(str(tmp_path / "l.flac"), always_2d=True)
    assert 0.8 < np.abs(y).max() <= 10 ** (-1 / 20) + 1e-3   # at -1 dBTP, nothing clipped


def test_keep_level_clips_and_counts_and_float_does_not_clip(tmp_path, loud):
    r = run_cli("bounce", loud, "--preset", "vocal-lift", "-o", tmp_path / "k.wav", "-q", "--keep-level")
    assert r.returncode == 0 and "samples clipped (peak +4." in r.stderr, r.stderr
    r = run_cli("bounce", loud, "--preset", "vocal-lift", "-o", tmp_path / "f.wav", "-q",
                "--bit-depth", "32")
    assert r.returncode == 0 and "clip" not in r.stderr, r.stderr
    y, _ = sf.read(str(tmp_path / "f.wav"), always_2d=True)
    assert np.abs(y).max() > 1.5                               # float holds the lifted level


def test_a_render_that_does_not_clip_is_untouched(tmp_path, song):
    r = run_cli("bounce", song, "--preset", "vocal-lift", "-o", tmp_path / "i.wav", "-q",
                "--bit-depth", "24")
    f = run_cli("bounce", song, "--preset", "vocal-lift", "-o", tmp_path / "f.wav", "-q",
                "--bit-depth", "32")
    assert r.returncode == f.returncode == 0 and "clip" not in r.stderr + f.stderr
    a, _ = sf.read(str(tmp_path / "i.wav"))
    b, _ = sf.read(str(tmp_path / "f.wav"))
    assert np.abs(a - b).max() < 2 ** -22


def test_live_reports_clipping(tmp_path, loud):
    r = run_cli("live", "--input-file", loud, "--output", "none", "--output-file", tmp_path / "h.wav",
                "--no-osc", "--preset", "vocal-lift")
    assert r.returncode == 0, r.stderr
    assert "samples clipped (peak +4." in r.stderr
    assert "preset 'vocal-lift'" in r.stderr


def test_every_run_says_which_preset_it_uses(tmp_path, song):
    r = run_cli("bounce", song, "-o", tmp_path / "o.wav")
    assert "preset 'karaoke' (the default of 'bounce'; --preset to choose)" in r.stdout
    r = run_cli("analyze", song, "--suggest")
    assert r.stdout.startswith("preset 'acapella' (the default of 'analyze'; --preset to choose)")
    r = run_cli("serve", song, "-o", tmp_path / "s.wav", "--osc-port", "0")
    assert "panslice serve: file" in r.stderr and "panslice live" not in r.stderr, r.stderr
    assert "preset 'vocal-lift' (the default of 'serve'; --preset to choose)" in r.stderr


@pytest.mark.parametrize("subtype,expect", [("PCM_16", "PCM_16"), ("PCM_24", "PCM_24"), ("FLOAT", "FLOAT")])
def test_the_input_bit_depth_is_kept_by_default(tmp_path, subtype, expect):
    src = write(tmp_path / "in.wav", noise(SR), subtype)
    r = run_cli("bounce", src, "-o", tmp_path / "o.wav", "-q")
    assert r.returncode == 0, r.stderr
    assert sf.info(str(tmp_path / "o.wav")).subtype == expect
    r = run_cli("bounce", src, "-o", tmp_path / "o.flac", "-q")
    assert sf.info(str(tmp_path / "o.flac")).subtype == ("PCM_16" if expect == "PCM_16" else "PCM_24")


def test_a_bit_depth_the_format_cannot_hold_is_refused_before_work(tmp_path, song):
    r = run_cli("bounce", song, "--bit-depth", "32", "-o", tmp_path / "x.flac", "-q")
    assert r.returncode == 1 and "flac holds 16 or 24 bits; 32-bit float needs .wav" in r.stderr
    assert "compiling" not in r.stderr and not (tmp_path / "x.flac").exists()


def test_stems_take_a_format_and_a_file_name_is_not_a_folder(tmp_path, song):
    r = run_cli("bounce", song, "--stems", "--format", "flac", "-o", tmp_path / "st", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == ["accompaniment.flac", "vocals.flac"]
    r = run_cli("bounce", song, "--stems", "-o", tmp_path / "fresh.wav", "-q")
    assert r.returncode == 1 and "with --stems, -o names a folder" in r.stderr
    assert not (tmp_path / "fresh.wav").exists()


def test_formats_pedalboard_cannot_read_go_through_ffmpeg_or_are_named(tmp_path, song, monkeypatch):
    import shutil
    import subprocess

    if shutil.which("ffmpeg"):
        m4a = tmp_path / "song.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(song), "-c:a", "aac", str(m4a)], check=True)
        x, sr, _ = audiofile.read_input(m4a)
        assert sr == SR and x.shape[0] == 2 and abs(x.shape[1] - SR) < 4096
    monkeypatch.setattr(shutil, "which", lambda name: None)
    odd = tmp_path / "song.opus"
    odd.write_bytes(b"x")
    with pytest.raises(audiofile.AudioFileError, match="cannot read '.opus' files .readable: wav, flac"):
        audiofile.read_input(odd)


def test_small_cli_things_a_newcomer_trips_on(tmp_path, song):
    rows = run_cli("params").stdout.splitlines()
    band = [r for r in rows if r.startswith("band.<i>.")]
    assert band and all("band i" in r and "band 1" not in r for r in band)
    starts = {r.index(" default ") for r in rows if " default " in r}
    assert len(starts) == 1                                          # one column, fft_size too
    r = run_cli("live", "--input-file", song, "--output", "none", "--buffer", "1")
    assert r.returncode == 2 and "give a block size from 32" in r.stderr
    r = run_cli("analyze", song, "-q", "-o", tmp_path / "a.png")
    assert r.returncode == 0 and r.stderr == "" and not r.stdout.startswith("preset")
    assert (tmp_path / "a.png").exists()


def test_live_output_none_without_a_file_says_what_is_missing(tmp_path, song):
    r = run_cli("live", "--no-osc", "--input-file", song, "--output", "none")
    assert r.returncode == 1 and "no output device found" not in r.stderr, r.stderr
    assert "--output none plays to no device" in r.stderr and "--output-file OUT" in r.stderr


@pytest.mark.parametrize("command", [("live", "--no-osc", "--output", "none", "--input-file"),
                                     ("serve", "--osc-port", "0"), ("studio",)])
def test_a_live_take_is_refused_over_an_existing_file_unless_overwrite(tmp_path, song, command):
    out = tmp_path / "heard.wav"
    out.write_bytes(b"precious")
    r = run_cli(*command, song, "--output-file", out)   # refused before any work, as bounce does
    assert r.returncode == 1 and "heard.wav: exists already" in r.stderr and "-y" in r.stderr, r.stderr
    assert out.read_bytes() == b"precious"
    if command[0] != "studio":  # (the studio serves a page until stopped)
        r = run_cli(*command, song, "--output-file", out, "-y")
        assert r.returncode == 0, r.stderr
        assert sf.info(str(out)).frames >= SR


@pytest.mark.parametrize("command", [("live", "--no-osc", "--output", "none", "--input-file"),
                                     ("serve", "--osc-port", "0")])
def test_a_recording_of_moves_is_refused_over_an_existing_file_unless_overwrite(tmp_path, song,
                                                                                 command):
    moves = tmp_path / "moves.csv"
    moves.write_text("precious")
    osc = ("--osc-port", "0") if command[0] == "live" else ()
    command = tuple(c for c in command if c != "--no-osc")
    r = run_cli(*command, song, *osc, "--output-file", tmp_path / "heard.wav",
                "--record-automation", moves)
    assert r.returncode == 1 and "moves.csv: exists already" in r.stderr and "-y" in r.stderr, r.stderr
    assert moves.read_text() == "precious" and not (tmp_path / "heard.wav").exists()
    r = run_cli(*command, song, *osc, "--output-file", tmp_path / "heard.wav",
                "--record-automation", moves, "-y")
    assert r.returncode == 0, r.stderr
    assert moves.read_text().startswith("# panslice automation")
