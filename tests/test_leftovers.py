"""What a killed bounce leaves is cleaned up by the next run of the same output, and a set of
stems is published whole or not at all (issue 18, defect 8)."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import noise
from panslice.plugin import cli
from panslice.plugin.formats import atomic, audiofile

SR = 44100


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def hidden(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


def test_sigkill_while_writing_leaves_a_part_that_the_next_run_removes(tmp_path):
    song = tmp_path / "song.wav"
    audiofile.write_stereo(song, noise(SR * 60), SR)
    out = tmp_path / "o.wav"
    cmd = [sys.executable, "-m", "panslice.plugin.cli", "bounce", str(song), "-o", str(out), "-q",
           "-y", "--bit-depth", "32"]
    proc = subprocess.Popen(cmd)
    while not hidden(tmp_path) and proc.poll() is None:   # until the write begins (an event)
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = hidden(tmp_path)
    if not left:
        pytest.skip("the write finished before the kill landed")
    assert not out.exists()
    assert subprocess.run(cmd).returncode == 0
    assert hidden(tmp_path) == [] and out.exists()


def test_only_leftovers_of_that_output_whose_writer_is_gone_are_removed(tmp_path):
    out = tmp_path / "o.wav"
    dead = tmp_path / f".o.wav.{dead_pid()}-abcd1234.part.wav"
    live = tmp_path / f".o.wav.{os.getpid()}-abcd1234.part.wav"
    other = tmp_path / f".p.wav.{dead_pid()}-abcd1234.part.wav"
    for f in (dead, live, other):
        f.write_bytes(b"x")
    with atomic.atomic_path(out) as tmp:
        tmp.write_bytes(b"new")
    assert not dead.exists() and live.exists() and other.exists() and out.read_bytes() == b"new"


def test_stems_are_written_all_or_nothing(tmp_path, monkeypatch):
    song = tmp_path / "song.wav"
    audiofile.write_stereo(song, noise(SR), SR)
    real, calls = audiofile.atomic_writer, []

    @contextlib.contextmanager
    def second_fails(path, *args, **kw):   # the second stem fails once it is written whole
        calls.append(path)
        with real(path, *args, **kw) as f:
            yield f
        if len(calls) == 2:
            raise audiofile.AudioFileError(f"{path}: could not write (disk full)")

    monkeypatch.setattr(audiofile, "atomic_writer", second_fails)
    stems = tmp_path / "stems"
    assert cli.main(["bounce", str(song), "--stems", "-o", str(stems), "-q"]) == 1
    assert len(calls) == 2
    assert not stems.exists() or os.listdir(stems) == []
    monkeypatch.setattr(audiofile, "atomic_writer", real)
    assert cli.main(["bounce", str(song), "--stems", "-o", str(stems), "-q"]) == 0
    assert sorted(os.listdir(stems)) == ["accompaniment.wav", "vocals.wav"]
