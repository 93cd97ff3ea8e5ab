"""panslice as a DAW's JACK insert, against a real ``jackd -d dummy`` and JACK's own tools:
the latency it publishes (``jack_lsp -l``, ``jack_iodelay``), freewheeling (``jack_freewheel``),
a new period mid-session (``jack_bufsize``), and a server that stops or comes back at another rate.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from conftest import free_port, noise, pan, run_cli
from jack_frames import FramePlayerRecorder, breaks
from test_jack import (PERIOD, PRESET, SR, PlayerRecorder, jack_server,  # noqa: F401
                       start_jackd, stop_jackd, wait_for)

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(shutil.which("jackd") is None or shutil.which("jack_iodelay") is None,
                                 reason="jackd and the JACK example tools are not installed "
                                        "(Debian: apt-get install jackd2)")]


class Proc:
    """A subprocess whose stdout and stderr lines are collected as they come."""

    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env)
        self.lines: list[str] = []
        self._t = threading.Thread(target=lambda: self.lines.extend(
            line for chunk in self.p.stdout for line in chunk.replace("\r", "\n").splitlines()),
            daemon=True)
        self._t.start()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig=signal.SIGINT, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self._t.join(timeout=10)
        return self.p.returncode


class PipeWire:
    """A private headless PipeWire (its own runtime folder, no session manager: its dummy driver
    runs the graph) whose JACK is pipewire-jack's libjack; the helpers here take it for a
    server name."""

    def __init__(self, folder: str):
        self.env = {"XDG_RUNTIME_DIR": folder,
                    "LD_LIBRARY_PATH": ":".join(filter(None, ["/usr/${LIB}/pipewire-0.3/jack",
                                                               os.environ.get("LD_LIBRARY_PATH")]))}


class Osc:
    """A subscriber to a live session: meters (each one a block or more of audio), echoes and
    answers to ``get``."""

    def __init__(self, port: int, proc: Proc, timeout: float = 180.0):
        self.cl, self.proc = SimpleUDPClient("127.0.0.1", port), proc
        self.deadline = time.monotonic() + timeout
        while self._next() is None:      # until the session listens (before its audio starts)
            self.cl.send_message("/panslice/subscribe", [])
        self.wait("/panslice/meter/target")

    def _next(self):
        assert self.proc.p.poll() is None, self.proc.text
        assert time.monotonic() < self.deadline, "the live session stopped talking"
        data = self.cl.receive(0.2)
        return OscMessage(data) if data else None

    def wait(self, address: str, times: int = 1) -> None:
        for _ in range(times):
            while (m := self._next()) is None or m.address != address:
                pass

    def blocks(self, n: int = 4) -> None:
        """Until at least ``n`` more blocks have been processed (more than the ring holds)."""
        self.wait("/panslice/meter/target", n)

    def send(self, name: str, value: float) -> None:
        """Set a knob and wait until the session has accepted it (its echo)."""
        self.cl.send_message(f"/panslice/{name}", float(value))
        self.wait(f"/panslice/{name}")

    def knobs(self) -> dict[str, float]:
        """Every parameter, as ``get`` reports it."""
        self.cl.send_message("/panslice/get", [])
        got = {}
        while (m := self._next()) is None or m.address != "/panslice/latency":
            if m is not None and not m.address.startswith(("/panslice/meter/", "/panslice/latency")):
                got[m.address[len("/panslice/"):].replace("/", ".")] = m.params[0]
        return got


def jack_env(server, **more):
    where = server.env if isinstance(server, PipeWire) else {"JACK_DEFAULT_SERVER": server}
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    return {**env, **where, "JACK_NO_AUDIO_RESERVATION": "1", **more}


def port_latencies(server) -> dict[str, dict[str, tuple[int, int]]]:
    """``jack_lsp -l``: {port: {"capture": (min, max), "playback": (min, max)}}."""
    out = subprocess.run(["jack_lsp", "-l"], capture_output=True, text=True, env=jack_env(server),
                         timeout=30).stdout
    ports: dict = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"\s+port (capture|playback) latency = \[ (\d+) (\d+) \]", line)
        if m and name:
            ports[name][m[1]] = (int(m[2]), int(m[3]))
        elif not line.startswith((" ", "\t")):
            name = line.strip()
            ports[name] = {}
    return ports


def published(server, client) -> tuple[int, int]:
    """What ``client`` publishes across itself: (capture out - capture in, playback in - playback
    out) on its first pair of ports, as ``jack_lsp -l`` shows them."""
    lat = port_latencies(server)
    i, o = lat.get(f"{client}:in_1", {}), lat.get(f"{client}:out_1", {})
    if "capture" not in i or "capture" not in o:
        return (-1, -1)
    return (o["capture"][1] - i["capture"][1], i["playback"][1] - o["playback"][1])


def connections(server, port: str) -> list[str]:
    """The ports connected to ``port`` (``jack_lsp -c``)."""
    out = subprocess.run(["jack_lsp", "-c", port], capture_output=True, text=True,
                         env=jack_env(server), timeout=30).stdout
    return [line.strip() for line in out.splitlines() if line.startswith((" ", "\t"))]


def jack_connect(server, *pairs):
    for src, dst in pairs:
        subprocess.run(["jack_connect", src, dst], check=True, env=jack_env(server), timeout=30)


def live(server, *args, env=None):
    cmd = [sys.executable, "-m", "panslice.plugin.cli", "live", "--no-osc", "--jack", *args]
    return Proc(cmd, jack_env(server, **(env or {})))


def started_latency(p: Proc) -> int:
    """Waits for a live session's start line; returns the latency it printed."""
    wait_for(lambda: "latency" in p.text or p.p.poll() is not None, 180, "panslice to start")
    m = re.search(r"latency (\d+) samples", p.text)
    assert m, p.text
    return int(m[1])


def iodelay(server, connect) -> int:
    """Round trip in samples that ``jack_iodelay`` measures through ``connect(out, in)``."""
    p = Proc(["stdbuf", "-o0", "jack_iodelay"], jack_env(server))
    try:
        wait_for(lambda: "jack_delay:in" in port_latencies(server), 30, "jack_iodelay's ports")
        connect("jack_delay:out", "jack_delay:in")
        found = lambda: re.findall(r"([\d.]+) frames\s+[\d.]+ ms total roundtrip", p.text)
        wait_for(lambda: len(found()) >= 3, 60, "jack_iodelay to measure")
        values = {float(v) for v in found()[1:]}
        assert len(values) == 1, p.text   # steady: the same round trip each measurement
        return round(values.pop())
    finally:
        p.stop(signal.SIGTERM)


def test_published_latency_is_what_jack_iodelay_measures(jack_server):
    """At neutral settings (all gains 0 dB: transparent), jack_iodelay's round trip through
    panslice minus the server's own (a direct loop) is what panslice publishes, to the sample."""
    own = iodelay(jack_server, lambda o, i: jack_connect(jack_server, (o, i)))
    p = live(jack_server, "--jack-name", "slicer", "--set", "target_gain_db=0")
    try:
        lat = started_latency(p)
        assert lat == 2047 + 512 + 2 * PERIOD   # engine (spread over blocks: + one hop) + ring
        wait_for(lambda: published(jack_server, "slicer") == (lat, lat), 30, "the latency to be published")
        through = iodelay(jack_server, lambda o, i: jack_connect(
            jack_server, (o, "slicer:in_1"), ("slicer:out_1", i)))
        print(f"\njack_iodelay: server's own {own}, through panslice {through}, published {lat}")
        assert through - own == lat
        # downstream ports see it too: the system ports' ranges include panslice's
        jack_connect(jack_server, ("system:capture_1", "slicer:in_1"), ("slicer:out_1", "system:playback_1"))
        ports = port_latencies(jack_server)
        assert ports["slicer:out_1"]["capture"][1] == ports["system:capture_1"]["capture"][1] + lat
        assert ports["slicer:in_1"]["playback"][1] == ports["system:playback_1"]["playback"][1] + lat
    finally:
        rc = p.stop()
    assert rc == 0, p.text


# pipewire-jack's libjack: /usr/${LIB}/pipewire-0.3/jack for the loader, wherever the
# distribution's ${LIB} is (lib/x86_64-linux-gnu, lib/aarch64-linux-gnu, lib64, ...)
PW_JACK = [*glob.glob("/usr/lib/*/pipewire-0.3/jack"), *glob.glob("/usr/lib*/pipewire-0.3/jack")]


@pytest.fixture
def pipewire():
    """A private PipeWire, stopped afterwards (skips where pipewire or pipewire-jack is missing)."""
    if shutil.which("pipewire") is None or not PW_JACK:
        pytest.skip("pipewire and pipewire-jack are not installed (Debian: apt-get install "
                    "pipewire pipewire-jack)")
    folder = tempfile.mkdtemp(prefix="pw-")     # short: the socket's path has a length limit
    os.chmod(folder, 0o700)
    pw = PipeWire(folder)
    proc = Proc(["pipewire"], jack_env(pw))
    try:
        wait_for(lambda: subprocess.run(["jack_lsp"], env=jack_env(pw), capture_output=True,
                                        timeout=30).returncode == 0 or proc.p.poll() is not None,
                 30, "pipewire to serve JACK clients")
        assert proc.p.poll() is None, proc.text
        yield pw
    finally:
        proc.stop(signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


# A client that copies in_1 to out_1 and publishes nothing: PipeWire's own round trip through
# a client. (jack_iodelay looped onto itself, as on jackd, measured nothing in 5 of 7 tries.)
THRU = """import jack, threading
c = jack.Client("thru", no_start_server=True)
i, o = c.inports.register("in_1"), c.outports.register("out_1")
c.set_process_callback(lambda n: o.get_array().__setitem__(slice(None), i.get_array()))
c.activate()
threading.Event().wait()
"""


def test_published_latency_under_pipewire_jack(pipewire):
    """PipeWire's JACK (0.3.65 here) does not ask a client that activates for its latency, as
    jackd does, unless other clients come and go meanwhile: alone on the server, panslice's
    ports showed 0. panslice asks for a recompute when it activates, so its ports publish its
    latency there too, and jack_iodelay's round trip through it minus that through a client
    that adds none is what it publishes, to the sample. Until the check, no other JACK client
    comes (OSC's meters say the audio runs): without the recompute, this failed 2 runs in 3."""
    port = free_port()
    p = Proc([sys.executable, "-m", "panslice.plugin.cli", "live", "--jack", "--jack-name", "slicer",
              "--set", "target_gain_db=0", "--osc-port", str(port)], jack_env(pipewire))
    try:
        Osc(port, p).blocks(8)
        lat = started_latency(p)
        assert published(pipewire, "slicer") == (lat, lat), port_latencies(pipewire)
        thru = Proc([sys.executable, "-c", THRU], jack_env(pipewire))
        try:
            wait_for(lambda: "thru:out_1" in port_latencies(pipewire), 30, "the pass-through client")
            own = iodelay(pipewire, lambda o, i: jack_connect(pipewire, (o, "thru:in_1"), ("thru:out_1", i)))
        finally:
            thru.stop(signal.SIGTERM)
        through = iodelay(pipewire, lambda o, i: jack_connect(
            pipewire, (o, "slicer:in_1"), ("slicer:out_1", i)))
        print(f"\npw-jack: jack_iodelay: PipeWire's own {own}, through panslice {through}, "
              f"published {lat}; {p.lines[0] if p.lines else ''}")
        assert through - own == lat
    finally:
        rc = p.stop()
    assert rc == 0, p.text


def freewheel_watcher(server):
    """A JACK client whose ``fw`` event is set while the server freewheels."""
    import jack

    c = jack.Client("fw-watch", no_start_server=True, servername=server)
    c.fw = threading.Event()
    c.set_freewheel_callback(lambda starting: c.fw.set() if starting else c.fw.clear())
    c.activate()
    return c


def jack_freewheel(server, on: bool, watcher):
    subprocess.run(["jack_freewheel", "y" if on else "n"], check=True, env=jack_env(server), timeout=30)
    wait_for(lambda: watcher.fw.is_set() == on, 30, f"freewheel {'on' if on else 'off'}")


def test_freewheel_processes_every_cycle_as_the_bounce(tmp_path, jack_server):
    """``jack_freewheel on`` (a DAW's export): panslice keeps up with every cycle, so what it
    writes is the offline bounce exactly, after the published latency, the first time."""
    n = 3 * SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / SR)      # centred: karaoke removes it
    x = (noise(n, seed=3) + pan(tone, 0.0)).astype(np.float32)
    song = tmp_path / "song.wav"
    sf.write(str(song), x.T, SR, subtype="FLOAT")
    presets = tmp_path / "config" / "panslice" / "presets"
    presets.mkdir(parents=True)
    (presets / "jack-test.toml").write_text(PRESET)
    config = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    r = run_cli("bounce", song, "-o", tmp_path / "bounced.wav", "--preset", "jack-test",
                "--bit-depth", "32", "-q", env=config)
    assert r.returncode == 0, r.stderr
    bounced = sf.read(str(tmp_path / "bounced.wav"), dtype="float32")[0].T

    watcher = freewheel_watcher(jack_server)
    pr = PlayerRecorder(jack_server, x, 240)
    p = live(jack_server, "--jack-name", "slicer", "--preset", "jack-test",
             "--jack-in", "player:out_1,player:out_2", "--jack-out", "recorder:in_1,recorder:in_2",
             env=config)
    try:
        latency = started_latency(p)
        wait_for(lambda: pr.recorder.get_all_connections("recorder:in_2") or p.p.poll() is not None,
                 60, "panslice to connect its ports")
        assert p.p.poll() is None, p.text
        jack_freewheel(jack_server, True, watcher)
        start, _ = pr.play_once(latency + 4096, 300)
        jack_freewheel(jack_server, False, watcher)
        heard = pr.recorded(start + latency, n)
        assert heard is not None, "JACK's frame times jumped inside the pass"
        diff = np.abs(heard - bounced)
        print(f"\nfreewheel: latency {latency}, max difference from the bounce {diff.max():.3g}, "
              f"{int((diff > 0).sum())} samples differ")
        assert np.array_equal(heard, bounced)
    finally:
        rc = p.stop()
        pr.close()
        watcher.deactivate()
        watcher.close()
    assert rc == 0, p.text
    print(p.lines[-1])


IDENTITY = """
import sys
from panslice.plugin.live import loop


class Identity:
    '''A chain that copies: panslice's JACK stream and loop alone, bit for bit.'''
    latency_samples, stages, dropouts, sample_rate, max_block = 0, [], 0, None, 0

    def prepare(self, sr, block):
        self.sample_rate, self.max_block = sr, block
        return self

    def process_block(self, x, o):
        o[:] = x


s, block, what = loop.open_stream(None, jack=True, jack_name="ident", jack_in=sys.argv[1:3],
                                  jack_out=sys.argv[3:5])
print("latency", s.source.latency_samples, "samples", flush=True)
rep = loop.run(Identity(), s, block, realtime=True)
s.close()
print(rep.summary(), flush=True)
"""

GROWN, SHRUNK = 2048, 512   # the identity session's latency at periods 1024 and 64 (256: 512)


def undisturbed(pr: FramePlayerRecorder, grow: int, shrink: int) -> np.ndarray:
    """Per frame, whether the recording there owes nothing to a break in the cycles of the
    test's own clients (one missed, or run late). A late client makes the server repair that
    cycle for the whole graph, panslice's client included (jackd's log: "client = recorder
    was not finished"), with buffers stale or skipped: measured, the delay went from 512 to 640
    for the 512 samples after such a break, or to 448 for one cycle 576 frames after one. So
    from a break's first frame on, until all that was in flight through panslice then has come
    out (its latency: 512 at periods 256 and 64, 2048 from the growth at frame ``grow`` until
    the shrink at ``shrink`` is done), the recording is left out."""
    ok = np.ones(pr.frames.size, bool)
    for first, end in breaks(pr.played) + breaks(pr.heard):
        ok[first:end + (GROWN if grow - SHRUNK <= end < shrink + GROWN else SHRUNK)] = False
    return ok


def delay_runs(t: np.ndarray, src: np.ndarray) -> list[tuple[int, int, int]]:
    """[(delay, first frame, samples)] of the runs of equal delay in frames ``t``."""
    d = t - src
    cuts = np.flatnonzero(np.diff(d)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [d.size]])
    return [(int(d[a]), int(t[a]), int(b - a)) for a, b in zip(starts, ends)]


def silence_runs(t: np.ndarray) -> list[tuple[int, int]]:
    """[(first frame, samples)] of the runs of consecutive frames in ``t``."""
    cuts = np.flatnonzero(np.diff(t) != 1) + 1
    return [(int(r[0]), r.size) for r in np.split(t, cuts) if r.size]


def judge(pr: FramePlayerRecorder) -> dict:
    """What the recording shows, from the first sample panslice passed on to the last, leaving
    out the frames that a break of the test's own clients explains (:func:`undisturbed`) and
    those the recorder never ran for."""
    sizes = pr.heard[:, 1]
    grow = int(pr.heard[np.argmax(sizes == 1024), 0])   # the first cycle of each new period
    shrink = int(pr.heard[np.argmax(sizes == 64), 0])
    src = pr.sources()
    carried = np.flatnonzero(src >= 0)
    span = np.arange(carried[0], carried[-1] + 1)
    ok = undisturbed(pr, grow, shrink)[span] & (src[span] != -2)
    t = span[ok]
    s = src[t]
    sound = s >= 0
    model = np.where(t < grow, t - SHRUNK, np.where(t < grow + GROWN - SHRUNK, -1, t - GROWN))
    before, after = t < shrink, (t >= shrink) & sound
    falls = np.diff(t[after] - s[after])
    # the frames of both steps, and one cycle of 64 either side, all judged
    steps = np.r_[grow - 64:grow + GROWN - SHRUNK + 64, shrink - 64:shrink + 64]
    return {"grow": grow, "shrink": shrink, "judged": (int(ok.sum()), span.size),
            "runs": delay_runs(t[sound], s[sound]), "silences": silence_runs(t[s == -1]),
            "sources rise": bool(np.all(np.diff(s[sound]) > 0)),
            "unlike the model": [(int(a), int(b), int(c)) for a, b, c in
                                 zip(t[before], s[before], model[before]) if b != c][:5],
            "delay only falls after the shrink": bool(np.all(falls <= 0)),
            "steps judged": bool(np.isin(steps, t).all())}


IDENTITY_SESSION = [sys.executable, "-c", IDENTITY, "player:out_1", "player:out_2",
                    "recorder:in_1", "recorder:in_2"]


def test_new_period_mid_session_moves_the_latency_and_nothing_else(jack_server, tmp_path):
    """jack_bufsize 256 -> 1024 -> 64 under a running session: the output carries every input
    sample once, in order; the delay moves from 512 to 2048 (1536 samples of silence put in,
    at the first cycle of the new period) and back to 512 at the first cycle of 64 (1536
    samples skipped, perhaps over a few cycles); each latency is published.

    The test's player and recorder run in a child process and speak JACK's frame time
    (:mod:`jack_frames`): what a cycle they missed or ran late did to the recording is left
    out, by their own logs, and everything else must be as said. A retry is left for what the
    test cannot see through: panslice's own loop starved by the machine (the session reports
    under-runs or late blocks, and repairs them as documented), or a break of the test's
    clients at a period change itself."""
    for attempt in range(3):
        subprocess.run(["jack_bufsize", "256"], check=True, capture_output=True,
                       env=jack_env(jack_server), timeout=30)
        pr = FramePlayerRecorder(jack_server, tmp_path / f"attempt{attempt}", 120, SR,
                                 jack_env(jack_server))
        p = Proc(IDENTITY_SESSION, jack_env(jack_server))
        try:
            wait_for(lambda: "ident:out_2" in connections(jack_server, "recorder:in_2")
                     or p.p.poll() is not None, 120, "the identity session to connect")
            assert p.p.poll() is None, p.text
            seen = []
            for size, lat in ((256, SHRUNK), (1024, GROWN), (64, SHRUNK)):
                if size != 256:
                    subprocess.run(["jack_bufsize", str(size)], check=True, capture_output=True,
                                   env=jack_env(jack_server), timeout=30)
                wait_for(lambda: published(jack_server, "ident") == (lat, lat), 30,
                         f"latency {lat} published at period {size}")
                seen.append(published(jack_server, "ident"))
                mark = pr.recorded_until()
                wait_for(lambda: pr.recorded_until() > mark + SR, 60, "a second more audio")
        finally:
            rc = p.stop()
            pr.close()
        assert rc == 0, p.text
        v = judge(pr)
        report = re.search(r"(\d+) under-runs, \d+ server xruns, (\d+) late blocks", p.lines[-1])
        assert report, p.text
        print(f"\nbufsize: attempt {attempt + 1}: {v}; the test's clients: breaks {breaks(pr.played)} "
              f"(player), {breaks(pr.heard)} (recorder), server xruns heard of at frames "
              f"{pr.xruns.tolist()}; panslice: {p.lines[-1]}")
        kept_up = report.groups() == ("0", "0")
        if kept_up and v["steps judged"]:
            break
    assert seen == [(512, 512), (2048, 2048), (512, 512)]
    assert "JACK period 256 -> 1024: latency 512 -> 2048 samples" in p.text, p.text
    assert "JACK period 1024 -> 64: latency 2048 -> 512 samples" in p.text, p.text
    assert kept_up and v["steps judged"], "every attempt was disturbed (above)"
    judged, frames = v["judged"]
    assert 2 * judged > frames, v                      # the breaks left most of it to judge
    steps = [d for d, _, _ in v["runs"]]
    # the skip takes only what a cycle does not need, so it may come in more than one step
    assert steps[:2] == [SHRUNK, GROWN] and steps[-1] == SHRUNK, v
    assert all(a > b for a, b in zip(steps[1:], steps[2:])), v
    assert v["sources rise"], v                        # nothing doubled, nothing out of order
    # before the shrink, every judged frame is the model's: delay 512; 1536 of silence from the
    # first cycle at 1024 on; delay 2048. From the first cycle at 64 on the delay only falls,
    # to 512, with no silence.
    assert v["unlike the model"] == [], v
    assert v["silences"] == [(v["grow"], GROWN - SHRUNK)], v
    assert v["delay only falls after the shrink"] and v["runs"][2][1] >= v["shrink"], v


def test_a_server_that_stops_ends_the_session_and_a_restart_at_another_rate_is_followed(tmp_path):
    """The server stops: one clear line and exit status 1, no traceback. Started again at
    another rate, a new session runs at that rate (panslice never follows a server across a
    restart: it exits, and is started again with the server)."""
    pytest.importorskip("jack")
    name = f"panslice-restart-{os.getpid()}"
    with open(tmp_path / "jackd.log", "w") as log:
        server = start_jackd(name, 44100, log)
        try:
            p = live(name, "--jack-name", "slicer", "--set", "target_gain_db=0")
            lat = started_latency(p)
            wait_for(lambda: published(name, "slicer") == (lat, lat), 30, "panslice to run")
        finally:
            stop_jackd(server)
        wait_for(lambda: p.p.poll() is not None, 60, "panslice to exit")
        rc = p.stop()
        print("\n" + p.text)
        assert rc == 1, p.text
        assert "panslice: error: JACK: the server shut down" in p.text, p.text
        assert "Traceback" not in p.text, p.text
        server = start_jackd(name, 48000, log)
        try:
            p = live(name, "--jack-name", "slicer", "--set", "target_gain_db=0")
            lat = started_latency(p)
            wait_for(lambda: published(name, "slicer") == (lat, lat), 30, "panslice to run")
            assert "48000 Hz" in p.text, p.text
        finally:
            rc = p.stop()
            stop_jackd(server)
        assert rc == 0, p.text
