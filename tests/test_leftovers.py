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


@pytest.mark.parametrize("kind", ["--stems", "--sources"])
def test_stems_are_written_all_or_nothing(tmp_path, monkeypatch, kind):
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
    assert cli.main(["bounce", str(song), kind, "-o", str(stems), "-q"]) == 1
    assert len(calls) == 2
    assert not stems.exists() or os.listdir(stems) == []
    monkeypatch.setattr(audiofile, "atomic_writer", real)
    assert cli.main(["bounce", str(song), kind, "-o", str(stems), "-q"]) == 0
    names = sorted(os.listdir(stems))
    assert names == (["accompaniment.wav", "vocals.wav"] if kind == "--stems" else
                     sorted([f"source_{k + 1}.wav" for k in range(len(names) - 1)] + ["rest.wav"]))


# Runs a bounce that SIGKILLs itself at one rename of a set's publication: the test's own hook
# around os.rename / os.replace, nothing in panslice.
KILLER = """
import os, signal, sys
folder, when = os.path.abspath(sys.argv[1]), sys.argv[2]
real = {"rename": os.rename, "replace": os.replace}

def hooked(name):
    def call(src, dst, *a, **k):
        s, d = os.path.abspath(src), os.path.abspath(dst)
        if when == "before-set" and d == folder:
            os.kill(os.getpid(), signal.SIGKILL)        # all gathered, the one rename not done
        real[name](src, dst, *a, **k)
        if (when == "set-aside" and s == folder) or (when == "first-in" and os.path.dirname(d) == folder):
            os.kill(os.getpid(), signal.SIGKILL)        # between two renames
    return call

os.rename, os.replace = hooked("rename"), hooked("replace")
from panslice.plugin import cli
cli.main(sys.argv[3:])
"""
SET = ["accompaniment.wav", "vocals.wav"]


def visible(folder):
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if folder.exists() else []


def bounce_killed(song, stems, when, *flags):
    r = subprocess.run([sys.executable, "-c", KILLER, str(stems), when, "bounce", str(song), "--stems",
                        "-o", str(stems), "-q", *flags], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.parametrize("when,before", [
    ("before-set", []),                    # a new set: gathered beside, killed before its rename
    ("set-aside", SET),                    # -y over a set: the old one aside, the new not yet in
    ("first-in", SET + ["notes.txt"]),     # a folder shared with other files: one stem renamed in
])
def test_a_set_of_stems_killed_while_published_is_whole_absent_or_marked(tmp_path, when, before):
    song = tmp_path / "song.wav"
    audiofile.write_stereo(song, noise(SR), SR)
    stems = tmp_path / "stems"
    if before:
        stems.mkdir()
        for name in before:
            (stems / name).write_bytes(b"old")
    bounce_killed(song, stems, when, "-y")
    left = visible(stems)
    if "notes.txt" in before:              # renamed in one by one: the marker says it is mixed
        assert (stems / atomic.MIXED_MARKER).exists()
        assert sum((stems / n).read_bytes() != b"old" for n in SET) == 1
    else:                                  # none of the new set, and never a mixed one
        assert left == [] and hidden(tmp_path) != []
    assert cli.main(["bounce", str(song), "--stems", "-o", str(stems), "-q", "-y"]) == 0
    assert visible(stems) == sorted(SET + [n for n in before if n not in SET])
    assert all((stems / n).read_bytes() != b"old" for n in SET)
    assert hidden(tmp_path) == [] and hidden(stems) == []
