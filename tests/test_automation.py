"""Recorded automation: the file format, its validation, and replay by ``bounce --automation``."""

from __future__ import annotations

import math
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from conftest import free_port, noise, pan, read_wav, run_cli, write_wav
from panslice.dsp import params as P
from panslice.plugin.formats import automation, presets
from panslice.plugin.live import loop as live, streams
from panslice.plugin.formats.automation import AutomationError
from panslice.plugin.offline.bounce import render
from panslice.plugin.graph.chain import Chain
from panslice.plugin.control import osc
from panslice.plugin.control.session import ControlSession
from panslice.plugin.graph.stage import Stage

SR = 44100


@pytest.fixture
def song(tmp_path):
    t = np.arange(3 * SR) / SR
    x = 0.4 * pan(np.sin(2 * np.pi * 330 * t), 0.0) + pan(noise(3 * SR)[0], -0.6)
    return write_wav(tmp_path / "song.wav", x.astype(np.float32))


MOVES = [(22050, "target_gain_db", -math.inf), (22050, "width", 0.125), (66150, "center", -0.5),
         (100000, "target_gain_db", -6.0), (100000, "band.2.high_hz", 8000.0)]


def test_round_trip_keeps_every_change_and_starts_from_the_whole_state(tmp_path):
    ps = P.ParamSet({"width": 0.4, "fft_size": 1024})
    path = automation.write(tmp_path / "a.csv", SR, ps, MOVES)
    text = path.read_text()
    assert text.startswith("# panslice automation 1\n# sample_rate = 44100\n# fft_size = 1024\n")
    auto = automation.read(path)
    assert auto.sample_rate == SR and auto.structure == {"fft_size": 1024.0, "overlap": 4.0}
    assert auto.start == {p.name: ps[p.name] for p in P.REGISTRY if p.live}
    assert auto.changes == MOVES
    assert automation.start_params(auto, P.ParamSet({"center": 0.5})).as_dict() == ps.as_dict()
    assert not list(tmp_path.glob(".*part"))


GOOD_HEAD = "# panslice automation 1\n# sample_rate = 44100\n# fft_size = 2048\n# overlap = 4\n"


@pytest.mark.parametrize("text,fragment", [
    ("sample,param,value\n", "not a panslice automation file"),
    ("# panslice automation 1\n# fft_size = 2048\n# overlap = 4\nsample,param,value\n",
     "header lacks sample_rate"),
    ("# panslice automation 1\n# sample_rate = 44100\n# fft_size = 1000\n# overlap = 4\n",
     "line 3: fft_size=1000 is not allowed"),
    ("# panslice automation 1\n# tempo = 120\n", "line 2: expected '# KEY = VALUE'"),
    (GOOD_HEAD + "pos,name,value\n", "line 5: expected the column line"),
    (GOOD_HEAD + "sample,param,value\n0,centre,0.1\n", "line 6: unknown parameter 'centre' (did you mean center"),
    (GOOD_HEAD + "sample,param,value\n-5,center,0.1\n", "line 6: sample position '-5' is not a whole number >= 0 or 'start'"),
    (GOOD_HEAD + "sample,param,value\n1.5,center,0.1\n", "line 6: sample position '1.5'"),
    (GOOD_HEAD + "sample,param,value\n0,center,0.1\n10,center,3\n", "line 7: center=3 is out of range"),
    (GOOD_HEAD + "sample,param,value\n0,width,nan\n", "line 6: width: NaN is not a value"),
    (GOOD_HEAD + "sample,param,value\n0,fft_size,1024\n", "fft_size cannot change during a render"),
    (GOOD_HEAD + "sample,param,value\n0,center\n", "line 6: expected sample,param,value"),
])
def test_bad_files_are_one_clear_error_naming_file_and_line(tmp_path, text, fragment):
    path = tmp_path / "moves.csv"
    path.write_text(text)
    with pytest.raises(AutomationError) as e:
        automation.read(path)
    assert str(e.value).startswith(f"{path}: ") and fragment in str(e.value)


def test_bounce_replays_automation_exactly_from_its_own_start(tmp_path, song):
    ps = P.ParamSet({"fft_size": 1024, "width": 0.5})
    moves = automation.write(tmp_path / "moves.csv", SR, ps, MOVES)
    out = tmp_path / "out.wav"
    r = run_cli("bounce", song, "--preset", "karaoke", "--automation", moves, "-o", out,
                "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    x = read_wav(song)
    want = render(x, SR, ps, changes=MOVES)  # starts as recorded, not as karaoke
    y = read_wav(out)
    assert np.array_equal(y, want)
    plain = render(x, SR, ps)
    # nothing moves before the first change reaches the output; after it, the output differs
    lat = 1023
    assert np.array_equal(y[:, :22050 - 1024], plain[:, :22050 - 1024])
    assert np.abs(y[:, 22050 + lat:] - plain[:, 22050 + lat:]).max() > 0.05


def test_bounce_refuses_automation_recorded_at_another_rate(tmp_path, song):
    moves = automation.write(tmp_path / "moves.csv", 48000, P.ParamSet(), MOVES)
    out = tmp_path / "out.wav"
    r = run_cli("bounce", song, "--automation", moves, "-o", out)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"panslice: error: {moves}: recorded at 48000 Hz but {song} is "
                                "44100 Hz; sample positions would land elsewhere")
    assert not out.exists()


def test_bounce_with_a_bad_automation_file_writes_nothing(tmp_path, song):
    moves = tmp_path / "moves.csv"
    moves.write_text(GOOD_HEAD + "sample,param,value\n0,center,7\n")
    r = run_cli("bounce", song, "--automation", moves, "-o", tmp_path / "out.wav")
    assert r.returncode == 1 and "line 6: center=7 is out of range" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "out.wav").exists()


# -- file-driven live sessions steered over real UDP -------------------------------------------

needs_liblo = pytest.mark.skipif(not shutil.which("oscsend"),
                                 reason="liblo-tools (oscsend) not installed; .ci/run installs it")

CHAIN = """format = 1
[[step]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 40
[[step]]
plugin = "panslice"
  [[step.target]]
  plugin = "Gain"
  gain_db = 3
[[step]]
plugin = "Compressor"
ratio = 2
"""


class Watch:
    """A subscriber to a live session; what it hears is the test's clock. A meter comes only
    when the audio has moved (a block or more since the last one), so ``k`` meters are at least
    ``k`` blocks of audio; an echo says a change was accepted (queued for the next block)."""

    def __init__(self, port: int, proc, timeout: float = 120.0):
        self.cl, self.proc = SimpleUDPClient("127.0.0.1", port), proc
        self.deadline = time.monotonic() + timeout
        while True:  # until the session answers (it listens before the audio starts)
            self.cl.send_message("/panslice/subscribe", [])
            if self._next() is not None:
                break
        self.wait("/panslice/meter/target")  # the audio is running

    def wait(self, address: str, times: int = 1) -> None:
        """Until ``address`` has come ``times`` more times."""
        for _ in range(times):
            while self._next() != address:
                pass

    def _next(self) -> str | None:
        """The address of the next message, None after 0.2 s of silence."""
        assert self.proc.poll() is None, self.proc.communicate()[1]
        assert time.monotonic() < self.deadline, "the live session stopped talking"
        m = self.cl.receive(0.2)
        return OscMessage(m).address if m else None


def session(tmp_path, head, sends, interrupt=None):
    """Run `panslice HEAD...` recording automation, with OSC on a free port. ``sends`` is
    [(blocks, oscsend args)]: each goes once at least ``blocks`` more blocks of audio have played
    (since the audio started, or since the change before it was accepted); ``interrupt``, a
    signal, is sent once the last change has been applied. Returns (heard audio, automation,
    latency, [send offsets in s], stderr)."""
    port = free_port()
    moves = tmp_path / "moves.csv"
    cmd = [sys.executable, "-m", "panslice.plugin.cli", *map(str, head), "--bit-depth", "32",
           "--record-automation", str(moves), "--osc-port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        watch = Watch(port, proc)
        t0 = time.monotonic()
        sent_at = []
        for blocks, args in sends:
            watch.wait("/panslice/meter/target", blocks)
            sent_at.append(time.monotonic() - t0)
            subprocess.run(["oscsend", "127.0.0.1", str(port), *args], check=True, timeout=10)
            if args[0] in osc.PARAM_AT:
                watch.wait(args[0])  # its echo: accepted
        if interrupt:
            # two meters after the last echo: a block that began after the change was queued
            watch.wait("/panslice/meter/target", 2)
            proc.send_signal(interrupt)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lat = int(re.search(r"latency (\d+) samples", err).group(1))
    return read_wav(tmp_path / "heard.wav"), automation.read(moves), lat, sent_at, err


GAP = 24  # blocks of 512 between the two changes: room for the output's fades between them


@pytest.mark.slow
@needs_liblo
def test_live_oscsend_changes_land_in_the_output_and_bounce_replays_them_exactly(tmp_path, song):
    (tmp_path / "revival.toml").write_text(CHAIN)
    # the first change once 5 more blocks have played (so that audio comes before it), the second
    # GAP blocks after the first was accepted; the meters take about 1 s of the 3 s song
    sends = [(5, ["/panslice/target_gain_db", "f", "-inf"]),
             (GAP, ["/panslice/center", "f", "-0.6"]),
             (0, ["/panslice/nonsense", "f", "1"])]  # rejected: changes nothing, stops nothing
    heard, auto, lat, sent_at, err = session(
        tmp_path, ["live", "--input-file", song, "--output", "none", "--output-file", tmp_path / "heard.wav",
                   "--chain", tmp_path / "revival.toml", "--preset", "vocal-lift"], sends)
    assert " 1 rejected" in err and "rejected /panslice/nonsense" in err
    x = read_wav(song)
    n = x.shape[1]
    assert heard.shape == (2, n + lat)
    assert [c[1:] for c in auto.changes] == [("target_gain_db", -math.inf), ("center", pytest.approx(-0.6))]
    (p1, _, _), (p2, _, _) = auto.changes
    assert 2048 < p1 and p1 + (GAP - 1) * 512 <= p2 < n
    gap = (p2 - p1) / SR - (sent_at[1] - sent_at[0])
    print(f"\nchanges recorded at {p1 / SR:.3f} s and {p2 / SR:.3f} s of the input; sent "
          f"{sent_at[1] - sent_at[0]:.3f} s apart, recorded {(p2 - p1) / SR:.3f} s apart ({gap:+.3f} s)")

    # the bounce of the recording is what was heard, sample for sample
    replay = tmp_path / "replay.wav"
    r = run_cli("bounce", song, "--chain", tmp_path / "revival.toml", "--automation", tmp_path / "moves.csv",
                "-o", replay, "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    y = read_wav(replay)
    assert np.array_equal(heard[:, lat:], y)

    # and the changes are audible from where they were recorded, not before
    plain = tmp_path / "plain.wav"
    r = run_cli("bounce", song, "--chain", tmp_path / "revival.toml", "--preset", "vocal-lift", "-o", plain,
                "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    z = read_wav(plain)
    assert np.array_equal(y[:, :p1 - 2048], z[:, :p1 - 2048])  # before the change reaches the output
    after = slice(p1 + 2048 + 4410, p2)
    assert np.sum(y[:, after] ** 2) < 0.5 * np.sum(z[:, after] ** 2)  # the centre sine is gone


@pytest.mark.slow
@needs_liblo
def test_serve_runs_headless_and_sigterm_keeps_audio_and_recording(tmp_path, song):
    heard, auto, lat, _, err = session(
        tmp_path, ["serve", song, "--loop", "-o", tmp_path / "heard.wav", "--preset", "karaoke"],
        [(3, ["/panslice/width", "f", "0.75"]), (3, ["/panslice/target_gain_db", "f", "0"])],
        interrupt=signal.SIGTERM)  # how a service manager stops a headless server
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert [c[1:] for c in auto.changes] == [("width", 0.75), ("target_gain_db", 0.0)]
    assert auto.start["target_gain_db"] == -math.inf  # karaoke is where it began
    # replay the looped input that was heard: the same audio (the bounce without --chain renders
    # the engine's mixed output, the live stage sums its two outputs: float32 rounding apart)
    m = heard.shape[1]
    looped = np.tile(read_wav(song), (1, -(-m // (3 * SR))))[:, :m]
    write_wav(tmp_path / "looped.wav", looped)
    r = run_cli("bounce", tmp_path / "looped.wav", "--automation", tmp_path / "moves.csv",
                "-o", tmp_path / "replay.wav", "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    y = read_wav(tmp_path / "replay.wav")
    assert np.abs(heard[:, lat:] - y[:, :m - lat]).max() < 1e-6


@pytest.mark.slow
def test_live_osc_errors_come_before_any_audio(tmp_path, song):
    r = run_cli("live", "--input-file", song, "--output", "none", "--output-file", tmp_path / "o.wav",
                "--no-osc", "--record-automation", tmp_path / "m.csv")
    assert r.returncode == 1 and "--record-automation records OSC changes: drop --no-osc" in r.stderr
    r = run_cli("serve", song, "-o", tmp_path / "o.wav", "--record-automation", tmp_path / "nope" / "m.csv")
    assert r.returncode == 1 and "nope/m.csv: folder" in r.stderr and "not writable" in r.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        r = run_cli("serve", song, "-o", tmp_path / "o.wav", "--osc-port", port)
    assert r.returncode == 1
    assert f"cannot listen for OSC on 127.0.0.1:{port} (Address already in use)" in r.stderr
    assert not list(tmp_path.glob("o.wav")) and not list(tmp_path.glob(".o*"))


class Collect:
    """A sink that keeps what it is given."""

    overruns = underruns = 0

    def __init__(self):
        self.blocks = []

    def write(self, block):
        self.blocks.append(block.copy())

    def close(self, commit=True):
        pass


def test_a_flood_of_changes_while_live_is_recorded_and_replayed_exactly(tmp_path, song):
    """10,000 messages over UDP (one in ten bad) in 20 bursts while the live loop runs flat out
    (a file source with a frozen clock): the good ones are applied between blocks, recorded, and
    replay exactly. After each burst the server has read it (a get answered) and the loop has
    begun a block after that, so every burst is applied, in blocks of its own."""
    block, bursts, per_burst = 256, 20, 500
    chain = Chain([Stage(presets.load("vocal-lift").params)])
    src = streams.FileSource(song, block, loop=True, clock=lambda: 0.0, sleep=lambda s: None)
    sink = Collect()
    chain.prepare(SR, block)
    stop = threading.Event()
    with ControlSession(chain, SR, port=0, record_to=tmp_path / "moves.csv") as cs:
        loop = threading.Thread(target=live.run, args=(chain, streams.Duplex(src, [sink]), block),
                                kwargs={"controls": cs.controls, "stop": stop})
        loop.start()
        cl = SimpleUDPClient("127.0.0.1", cs.server.port)
        for i in range(bursts * per_burst):
            if i % 10 == 9:  # one in ten is bad: out of range, or not OSC at all
                cl.send_message("/panslice/width", 5.0) if i % 20 == 9 else cl._sock.sendto(
                    b"garbage", ("127.0.0.1", cs.server.port))
            else:
                cl.send_message(("/panslice/width", "/panslice/center", "/panslice/rest_gain_db")[i % 3],
                                ((i % 97) / 97.0, (i % 89) / 89.0 - 0.5, -(i % 83) / 8.3)[i % 3])
            if i % per_burst == per_burst - 1:
                cl.send_message("/panslice/get", [])
                while next(cl.get_messages(30)).address != "/panslice/latency":
                    pass  # the server has read the burst (the latency ends its answer to get)
                pos = cs.controls.sample_pos
                while cs.controls.sample_pos < pos + 2 * block:  # a block began after the burst
                    assert loop.is_alive()
                    time.sleep(0.001)
        stop.set()
        loop.join()
    heard = np.concatenate(sink.blocks, axis=1)
    auto = automation.read(tmp_path / "moves.csv")
    assert cs.server.malformed > 0 and cs.server.rejected > 0  # the bad ones were seen
    assert all(v <= 2.0 for _, n, v in auto.changes if n == "width")
    assert len(auto.changes) >= 3 * bursts  # each burst changes three knobs
    assert len({c[0] for c in auto.changes}) >= bursts  # spread over many blocks
    print(f"\n{len(auto.changes)} changes applied in {len({c[0] for c in auto.changes})} blocks "
          f"of {heard.shape[1] // block}")
    assert all(c[0] % block == 0 for c in auto.changes)  # applied between blocks only
    m = heard.shape[1]
    looped = np.tile(read_wav(song), (1, -(-m // (3 * SR))))[:, :m]
    replay = Chain([Stage(automation.start_params(auto, P.ParamSet()))])
    y = replay.render(looped, SR, changes=auto.changes, buffer_size=block)
    lat = chain.latency_samples
    assert np.array_equal(heard[:, lat:], y[:, :m - lat])
