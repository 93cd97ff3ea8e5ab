"""A full disk is an error for every format, never a truncated file announced as written
(issue 18, defect 4: ogg's writer swallowed the error)."""

import os
import subprocess

import pytest

from conftest import noise, run_cli
from panslice.plugin.formats import audiofile
from panslice.plugin.formats.atomic import atomic_path

SR = 44100


@pytest.fixture
def small_disk(tmp_path):
    """A 150 KB tmpfs (needs root; skipped where mounting is not allowed)."""
    d = tmp_path / "small"
    d.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(d)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield d
    subprocess.run(["umount", str(d)], check=True)


@pytest.mark.parametrize("ext", [".ogg", ".wav", ".flac", ".mp3"])
def test_a_full_disk_fails_and_leaves_nothing(tmp_path, small_disk, ext):
    song = tmp_path / "song.wav"
    audiofile.write_stereo(song, noise(SR * 20), SR)
    out = small_disk / f"o{ext}"
    r = run_cli("bounce", song, "-o", out, "-q", "--preset", "vocal-lift")
    assert r.returncode == 1 and "could not write" in r.stderr, r.stderr
    assert os.listdir(small_disk) == []


def test_the_check_runs_after_the_writer_closed_and_can_refuse(tmp_path):
    seen = []

    def check(p):
        seen.append(p.read_bytes())
        raise OSError("no")

    with pytest.raises(OSError):
        with atomic_path(tmp_path / "x.txt", check) as tmp, open(tmp, "w") as f:
            f.write("hello")
    assert seen == [b"hello"] and os.listdir(tmp_path) == []
