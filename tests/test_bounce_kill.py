"""`bounce -j N` killed (SIGTERM or SIGKILL) takes its workers with it (issue 18, defect 6):
an orphan kept the caller's pipe open, so a caller capturing the output hung."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import noise
from panslice.plugin.formats import audiofile

SR = 44100


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")   # a zombie is dead, waiting for init to reap it


def finished(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.wav") if not p.name.startswith("."))


def until(condition, limit=120.0):
    """Wait for ``condition`` (an event, polled); ``limit`` only guards against a hang."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "the awaited event never came"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_parent_ends_its_workers(tmp_path, sig):
    songs = [tmp_path / f"s{i}.wav" for i in range(3)]
    x = noise(SR * 60)
    for s in songs:
        audiofile.write_stereo(s, x, SR)
    proc = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", "bounce", *map(str, songs),
                             "-j", "2", "-o", str(tmp_path / "out"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    until(lambda: len(children(proc.pid)) >= 2)
    workers = children(proc.pid)
    until(lambda: any((tmp_path / "out").glob(".*")))  # a worker is writing
    proc.send_signal(sig)
    done = finished(tmp_path / "out")
    proc.communicate(timeout=120)    # returns: nothing holds the pipe open
    assert proc.returncode == -sig if sig == signal.SIGKILL else proc.returncode == 143
    until(lambda: not any(alive(w) for w in workers))
    # they died then and there: an orphan would have gone on to finish the file in hand
    assert finished(tmp_path / "out") == done
    if sig == signal.SIGTERM:   # unwound: the workers' temporary files are gone
        assert not list((tmp_path / "out").glob(".*"))
