"""Every way of stopping a live session keeps the take (issue 18, defect 5): SIGTERM, SIGHUP, a
double Ctrl-C, each finishes and keeps the recording and the automation; the report names the
signal; a SIGKILL leaves a temporary file whose header plays up to about a second before, and
the automation recorded up to then, in whole rows."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pedalboard.io import AudioFile

from pythonosc.udp_client import SimpleUDPClient

from conftest import free_port, noise
from panslice.plugin.formats import audiofile, automation
from panslice.plugin.live import loop, streams

SR = 44100


@pytest.fixture
def song(tmp_path):
    p = tmp_path / "song.wav"
    audiofile.write_stereo(p, noise(SR * 2), SR)
    return p


def start(tmp_path, song, command="live", port=0):
    args = (["live", "--input-file", str(song), "--output", "none", "--output-file"]
            if command == "live" else ["serve", str(song), "-o"])
    return subprocess.Popen(
        [sys.executable, "-m", "panslice.plugin.cli", *args, str(tmp_path / "heard.wav"), "--loop",
         "--record-automation", str(tmp_path / "moves.csv"), "--osc-port", str(port)],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True)


def wait_for_audio(tmp_path, proc, seconds=1.5):
    """Until the hidden recording holds ``seconds`` of audio (an event, polled), or the session
    ended by itself (a failure the caller's asserts then show)."""
    while proc.poll() is None:
        parts = list(tmp_path.glob(".heard.*"))
        if parts and parts[0].stat().st_size > 4 * SR * seconds:
            return parts[0]
        time.sleep(0.05)
    return None


def frames(path):
    with AudioFile(str(path)) as f:
        return f.frames


@pytest.mark.parametrize("command,signals,said", [
    ("live", [signal.SIGTERM], "SIGTERM"),
    ("live", [signal.SIGHUP], "SIGHUP"),
    ("live", [signal.SIGINT, signal.SIGINT], "Ctrl-C"),
    ("serve", [signal.SIGTERM], "SIGTERM"),
])
def test_a_stop_signal_finishes_and_keeps_the_take(tmp_path, song, command, signals, said):
    proc = start(tmp_path, song, command)
    assert wait_for_audio(tmp_path, proc) is not None
    for s in signals:
        proc.send_signal(s)
        time.sleep(0.05)   # a second Ctrl-C as a hand (or timeout -s INT) sends it, not coalesced
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0, err
    assert f"stopped by {said}:" in err and "Traceback" not in err
    assert frames(tmp_path / "heard.wav") >= 1.5 * SR
    assert (tmp_path / "moves.csv").read_text().startswith("#")
    assert not list(tmp_path.glob(".heard.*"))


def test_sigkill_leaves_a_take_that_plays(tmp_path, song):
    proc = start(tmp_path, song)
    part = wait_for_audio(tmp_path, proc, seconds=2.5)
    assert part is not None
    proc.kill()
    proc.communicate(timeout=60)
    assert frames(part) >= SR   # the header was brought up to date at least once


def recorded_rows(tmp_path) -> tuple[Path | None, int]:
    parts = list(tmp_path.glob(".moves.csv.*.part.csv"))
    if not parts:
        return None, 0
    return parts[0], sum(1 for line in parts[0].read_text().splitlines() if line[:1].isdigit())


@pytest.mark.parametrize("command", ["live", "serve"])
def test_sigkill_leaves_the_automation_recorded_until_then(tmp_path, song, command):
    port = free_port()
    proc = start(tmp_path, song, command, port)
    assert wait_for_audio(tmp_path, proc, seconds=0.5) is not None
    osc = SimpleUDPClient("127.0.0.1", port)
    sent = [round(0.1 + 0.01 * i, 2) for i in range(40)]
    part, rows = None, 0
    for i, width in enumerate(sent * 50):   # moves until the kept file holds several (an event)
        osc.send_message("/panslice/width", width)
        time.sleep(0.05)
        part, rows = recorded_rows(tmp_path)
        if rows >= 5 or proc.poll() is not None:
            break
    proc.kill()
    proc.communicate(timeout=60)
    assert rows >= 5, "no change reached the kept file"
    text = part.read_text()
    assert text.endswith("\n")                 # whole rows only
    auto = automation.read(part)                # what bounce --automation reads
    assert len(auto.changes) >= 5 and {n for _, n, _ in auto.changes} == {"width"}
    assert {v for _, _, v in auto.changes} <= {float(np.float32(v)) for v in sent}   # OSC 'f'

    assert not (tmp_path / "moves.csv").exists()
    assert "width" in auto.start


def test_signals_after_the_first_are_ignored_then_interrupt_until_finishing():
    stop = loop.StopSignals()
    with pytest.raises(KeyboardInterrupt):
        stop._handler(signal.SIGTERM, None)     # setting up, nothing heard: stop at once
    stop.running = True
    stop._handler(signal.SIGTERM, None)
    assert stop.is_set() and stop.said == "SIGTERM"
    stop._handler(signal.SIGINT, None)          # a double Ctrl-C: still finishing
    with pytest.raises(KeyboardInterrupt):
        stop._handler(signal.SIGINT, None)      # a third: a stuck loop can be left
    stop.finishing = True
    stop._handler(signal.SIGINT, None)          # closing the files: never interrupted


def test_a_file_sink_keeps_what_it_heard_when_the_session_failed(tmp_path):
    sink = streams.FileSink(tmp_path / "heard.wav", SR)
    sink.write(noise(1000))
    sink.close(commit=False)
    assert frames(tmp_path / "heard.wav") == 1000
    empty = streams.FileSink(tmp_path / "none.wav", SR)
    empty.close(commit=False)
    assert os.listdir(tmp_path) == ["heard.wav"]
