"""The live loop over the stream seam: fake streams, the paced file source, the file of what was
heard, file-driven `panslice live` against the offline bounce, Ctrl-C, and a real AudioStream."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pedalboard as pb
import pytest
import soundfile as sf

from conftest import REAL_TRACKS, ListStream, needs_real, noise, pan, run_cli
from panslice.plugin.live import loop as live
from panslice.plugin.formats import presets
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage
from panslice.plugin.live.streams import FileSink, FileSource

SR = 44100


class ScriptedControls:
    """A controls object: applies scripted changes at block boundaries, logs every call."""

    def __init__(self, chain, script, stop_at=None, stop=None):
        self.chain, self.script, self.calls = chain, dict(script), []
        self.stop_at, self.stop = stop_at, stop

    def on_block(self, pos):
        self.calls.append(pos)
        if pos in self.script:
            self.chain.set(*self.script[pos])
        if self.stop_at is not None and pos >= self.stop_at:
            self.stop.set()


@pytest.fixture(scope="module")
def song():
    t = np.arange(2 * SR) / SR
    x = pan(0.4 * np.sin(2 * np.pi * 330 * t), 0.0) + pan(noise(2 * SR, seed=5)[0], 0.7)
    return x.astype(np.float32)


def test_live_loop_hears_what_the_bounce_renders_with_the_same_changes(song):
    block = 512

    def make():
        return Chain([pb.HighpassFilter(cutoff_frequency_hz=60), Stage(presets.load("karaoke").params),
                      pb.Compressor(threshold_db=-18, ratio=3)])

    chain = make()
    script = {block * 20: ("target_gain_db", 0.0), block * 50: ("width", 0.6)}
    stream = ListStream(song)
    controls = ScriptedControls(chain, script)
    rep = live.run(chain, stream, block, controls=controls)
    lat = chain.latency_samples
    heard = stream.heard()
    n = song.shape[1]
    assert heard.shape == (2, n + lat)  # the tail was played out: all of the input was heard
    assert controls.calls[:3] == [0, block, 2 * block] and all(np.diff(controls.calls) > 0)
    assert rep.ended_by == "end of input" and rep.samples == n + lat
    assert rep.blocks == -(-n // block)
    offline = make().render(song, SR, changes=[(p, k, v) for p, (k, v) in script.items()])
    assert np.array_equal(heard[:, lat:], offline)
    # the changes mattered: without them the audio differs after the first one
    plain = make().process(song, SR)
    assert np.array_equal(plain[:, :block * 20 - 4096], offline[:, :block * 20 - 4096])
    assert np.abs(plain - offline).max() > 0.05


def test_stop_ends_the_loop_between_blocks_without_a_tail(song):
    chain = Chain([Stage()])
    stop = threading.Event()
    stream = ListStream(song)
    controls = ScriptedControls(chain, {}, stop_at=10 * 256, stop=stop)
    rep = live.run(chain, stream, 256, controls=controls, stop=stop)
    assert rep.ended_by == "stop" and rep.blocks == 11 and stream.heard().shape[1] == 11 * 256


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.slept = []

    def __call__(self):
        return self.t

    def sleep(self, dt):
        self.slept.append(dt)
        self.t += dt


def test_file_source_paces_by_its_own_clock_loops_and_counts_late_reads(tmp_path, song):
    f = tmp_path / "song.wav"
    sf.write(str(f), song.T, SR, subtype="FLOAT")
    clock = FakeClock()
    src = FileSource(f, 1000, clock=clock, sleep=clock.sleep)
    x = src.read(1000)
    assert np.array_equal(x, song[:, :1000]) and clock.slept == [pytest.approx(1000 / SR)]
    src.read(1000)
    assert clock.slept[-1] == pytest.approx(1000 / SR) and src.overruns == 0
    clock.t += 0.5  # the loop stalls for half a second: a device would have dropped input
    src.read(1000)
    assert src.overruns == 1
    src.read(1000)  # the clock restarted from the stall: on time again, nothing counted
    assert src.overruns == 1 and clock.slept[-1] == pytest.approx(1000 / SR)
    # the end: a short block, then nothing
    src = FileSource(f, 30000, clock=clock, sleep=clock.sleep)
    sizes = [src.read(30000).shape[1] for _ in range(4)]
    assert sizes == [30000, 30000, song.shape[1] - 60000, 0]
    # looping: seamless wrap-around
    src = FileSource(f, 50000, loop=True, clock=clock, sleep=clock.sleep)
    got = np.concatenate([src.read(50000).copy() for _ in range(4)], axis=1)
    assert np.array_equal(got, np.tile(song, 3)[:, :200000])


def test_file_source_seeks_and_idles_at_its_pace(tmp_path, song):
    """What a player's transport asks of a file source: its position, a seek (the clock goes on
    as if the file went on), and silence at the file's pace without moving in the file."""
    f = tmp_path / "song.wav"
    sf.write(str(f), song.T, SR, subtype="FLOAT")
    clock = FakeClock()
    src = FileSource(f, 1000, loop=True, clock=clock, sleep=clock.sleep)
    assert src.position == 0 and src.length == song.shape[1]
    src.read(1000)
    src.seek(5000)
    assert src.position == 5000 and np.array_equal(src.read(1000), song[:, 5000:6000])
    quiet = src.idle(400)
    assert quiet.shape == (2, 400) and not quiet.any() and src.position == 6000
    assert clock.slept[-1] == pytest.approx(400 / SR) and src.overruns == 0
    src.seek(10 ** 9)  # past the end: its last sample, then the loop's wrap
    assert src.position == song.shape[1] - 1
    assert np.array_equal(src.read(3), song[:, [-1, 0, 1]])
    src.seek(-5)
    assert src.position == 0


def test_file_sink_appears_when_it_heard_something(tmp_path, song):
    sink = FileSink(tmp_path / "heard.wav", SR, 32)
    sink.close(commit=False)
    assert os.listdir(tmp_path) == []
    sink = FileSink(tmp_path / "heard.wav", SR, 32)
    sink.write(song[:, :1000])
    sink.write(song[:, 1000:1500])
    sink.close()
    y, sr = sf.read(str(tmp_path / "heard.wav"), dtype="float32")
    assert os.listdir(tmp_path) == ["heard.wav"] and np.array_equal(y.T, song[:, :1500])


def excerpt(tmp_path, seconds):
    """The first seconds of the first real track in ../shared, as a float wav in tmp_path."""
    x, sr = sf.read(str(REAL_TRACKS[0] / "mixture.wav"), dtype="float32", frames=int(seconds * SR))
    f = tmp_path / "excerpt.wav"
    sf.write(str(f), x, sr, subtype="FLOAT")
    return f, x.T


SPLIT_CHAIN = """
[[step]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 40

[[step]]
plugin = "panslice"
set = { width = 0.3, target_gain_db = 3 }

  [[step.target]]
  plugin = "Reverb"
  wet_level = 0.3

  [[step.rest]]
  plugin = "Compressor"
  threshold_db = -20
  ratio = 3

[[step]]
plugin = "Resample"
target_sample_rate = 22050
"""


@needs_real
@pytest.mark.parametrize("how", ["preset", "chain"])
def test_file_driven_live_writes_what_the_bounce_renders(tmp_path, how):
    song, x = excerpt(tmp_path, 2.0)
    heard = tmp_path / "heard.wav"
    if how == "preset":
        settings, lat = ["--preset", "karaoke", "--set", "width=0.3"], 2047
    else:
        (tmp_path / "split.toml").write_text(SPLIT_CHAIN)
        settings = ["--chain", tmp_path / "split.toml", "--preset", "vocal-lift", "--set", "softness=0.7"]
        lat = 2047 + 192  # the stage, and Resample's latency when streamed
    r = run_cli("live", "--no-osc", "--input-file", song, "--output-file", heard, "--output", "none",
                *settings, "--buffer", "1024", "--bit-depth", "32")
    assert r.returncode == 0, r.stderr
    assert f"latency {lat} samples" in r.stderr and "stopped by end of input" in r.stderr, r.stderr
    print(r.stderr)
    r = run_cli("bounce", song, "-o", tmp_path / "bounced.wav", *settings, "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    y, _ = sf.read(str(heard), dtype="float32")
    b, _ = sf.read(str(tmp_path / "bounced.wav"), dtype="float32")
    assert y.shape == (x.shape[1] + lat, 2)
    assert np.array_equal(y[lat:], b)
    assert np.abs(b - x.T).max() > 0.05  # it did change the music


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_what_was_heard(tmp_path, song):
    f = tmp_path / "song.wav"
    sf.write(str(f), song.T, SR, subtype="FLOAT")
    heard = tmp_path / "heard.wav"
    cmd = [sys.executable, "-m", "panslice.plugin.cli", "live", "--no-osc", "--input-file", str(f),
           "--loop", "--output-file", str(heard), "--output", "none", "--bit-depth", "32"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    first = p.stderr.readline() + p.stderr.readline()
    assert "Ctrl-C stops" in first, first
    # running: the temporary file of what is heard holds a quarter second (32-bit stereo frames
    # after a header of at most 4 KiB); only then the signal
    want = 8 * (SR // 4) + 4096
    deadline = time.monotonic() + 120
    while max([f.stat().st_size for f in tmp_path.glob(".heard.*")], default=0) < want:
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline, "the session never wrote a quarter second of audio"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    rest = p.communicate(timeout=60)[1]
    assert p.returncode == 0, rest
    assert "stopped by Ctrl-C" in rest and "Traceback" not in rest
    y, _ = sf.read(str(heard), dtype="float32")
    assert y.shape[0] > SR // 4  # some of the loop was heard and kept
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary left behind


ASOUNDRC = 'pcm.!default { type plug slave.pcm "nullpcm" }\npcm.nullpcm { type null }\n'


@pytest.mark.slow
def test_audiostream_on_an_alsa_null_device(tmp_path, song):
    """A real pedalboard AudioStream: the null PCM opens and takes what is written (write()
    returns at once there, read() would never return: the file's own clock paces the session)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC)
    env = {"HOME": str(home)}
    r = run_cli("devices", env=env)
    assert r.returncode == 0 and "default  (default)" in r.stdout and "nullpcm" in r.stdout, r.stdout
    probe = ("import numpy as np; from panslice.plugin.live.streams import DeviceStream; "
             "d = DeviceStream(None, 'nullpcm', sample_rate=44100, buffer=512); "
             "[d.write(np.zeros((2, 512), np.float32)) for _ in range(100)]; d.close(); print('ok')")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **env})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    f = tmp_path / "song.wav"
    sf.write(str(f), song[:, :SR // 2].T, SR, subtype="FLOAT")
    r = run_cli("live", "--no-osc", "--input-file", f, "--output-file", tmp_path / "heard.wav", env=env)
    assert r.returncode == 0 and "-> device 'default'" in r.stderr, r.stderr
    y, _ = sf.read(str(tmp_path / "heard.wav"), dtype="float32")
    assert y.shape[0] == SR // 2 + 2047
    r = run_cli("live", "--no-osc", "--input-file", f, "--output", "nosuchcard", env=env)
    assert r.returncode == 1 and "no output device 'nosuchcard'" in r.stderr, r.stderr
