"""OSC control: the address space is the registry; bad messages are answered, never obeyed;
get, subscribe/echo and meters checked with python-osc and with liblo's oscsend/oscdump."""

from __future__ import annotations

import math
import re
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from conftest import ROOT, free_port, pan, run_cli
from panslice.dsp import params as P
from panslice.dsp.engine import Engine
from panslice.plugin.live import loop as live, streams
from panslice.plugin.control import hub, osc
from panslice.plugin.graph.chain import Chain
from panslice.plugin.control.bridge import Controls
from panslice.plugin.formats import presets
from panslice.plugin.graph.stage import Stage

SR = 44100
BLOCK = 512
needs_liblo = pytest.mark.skipif(not (shutil.which("oscsend") and shutil.which("oscdump")),
                                 reason="liblo-tools (oscsend/oscdump) not installed; .ci/run installs it")


def start_live(chain, path, controls):
    """The real live loop in a thread: ``path`` looped at real-time pace, no output device."""
    stop = threading.Event()
    stream = streams.Duplex(streams.FileSource(path, BLOCK, loop=True), [])
    chain.prepare(stream.sample_rate, BLOCK)
    th = threading.Thread(target=live.run, args=(chain, stream, BLOCK),
                          kwargs={"controls": controls, "stop": stop}, daemon=True)
    th.start()
    return stop, th


@pytest.fixture
def rig(home):
    """An engine, its Controls and an OSC server on a free loopback port."""
    eng = Engine().prepare(SR, BLOCK)
    controls = Controls([eng], record=True)
    server = osc.OscServer(controls, eng.params, outputs=("vocals", "accompaniment"), port=0).start()
    yield eng, controls, server
    server.stop()


def client(server) -> SimpleUDPClient:
    return SimpleUDPClient("127.0.0.1", server.port)


def replies(cl: SimpleUDPClient, until: str, timeout: float = 10.0) -> list:
    """Messages arriving at ``cl`` up to and including the first at address ``until``."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = next(iter(cl.get_messages(0.2)), None)
        except (socket.timeout, TimeoutError):
            continue
        if m is None:
            continue
        got.append(m)
        if m.address == until:
            return got
    raise AssertionError(f"no {until} within {timeout} s; got {[(m.address, m.params) for m in got]}")


def get_all(cl) -> dict[str, float]:
    """Round trip ``/panslice/get``: the server handles messages in order, so this is a barrier."""
    cl.send_message("/panslice/get", [])
    last = osc.address(P.REGISTRY[-1].name)
    return {m.address: m.params[0] for m in replies(cl, last) if m.address in osc.PARAM_AT}


def legal_value(p: P.Param) -> float:
    """A value different from the default that the registry accepts (band edges stay in
    order: an inverted band is refused)."""
    if p.name.endswith(("low_hz", "high_hz")):
        return 100.0 if p.name.endswith("low_hz") else 9000.0
    if p.scale == "int":
        return p.maximum
    return p.minimum if math.isfinite(p.minimum) and p.minimum != p.default else p.maximum - 1.0


def test_address_space_is_generated_from_the_registry(rig):
    eng, controls, server = rig
    assert set(osc.PARAM_AT) == {osc.address(p.name) for p in P.REGISTRY}
    assert osc.PARAM_AT["/panslice/band/3/gain_db"].name == "band.3.gain_db"
    cl = client(server)
    live = [p for p in P.REGISTRY if p.live]
    want = {p.name: legal_value(p) for p in live}
    for name, v in want.items():
        cl.send_message(osc.address(name), v)
    state = get_all(cl)
    controls.on_block(4096)  # what the audio loop does between blocks
    for name, v in want.items():
        assert eng.params[name] == pytest.approx(v), name
        assert state[osc.address(name)] == pytest.approx(v), name
    assert len(state) == len(P.REGISTRY)  # get answers with every parameter, live or not
    assert sorted(c[1] for c in controls.recorded) == sorted(want)
    assert {c[0] for c in controls.recorded} == {4096}
    # The server thread counts the get after sending its replies: wait for it, don't race it.
    deadline = time.monotonic() + 5.0
    while server.accepted < len(live) + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.rejected == 0 and server.accepted == len(live) + 1


def _msg(addr, *args) -> bytes:
    b = OscMessageBuilder(addr)
    for a in args:
        b.add_arg(a) if not isinstance(a, tuple) else b.add_arg(a[1], a[0])
    return b.build().dgram


GOOD = _msg("/panslice/center", 0.5)
BAD = [
    ("unknown address", _msg("/panslice/centre", 0.5), "unknown address"),
    ("outside the namespace", _msg("/mixer/fader1", 0.5), "unknown address"),
    ("no argument", _msg("/panslice/center"), "expects one number, got 0 arguments"),
    ("two arguments", _msg("/panslice/center", 0.1, 0.2), "got 2 arguments"),
    ("string", _msg("/panslice/width", "wide"), "expects a number, got a string"),
    ("numeric string", _msg("/panslice/width", "0.3"), "expects a number, got a string"),
    ("blob", _msg("/panslice/width", ("b", b"\x01\x02")), "got a blob"),
    ("boolean", _msg("/panslice/width", True), "got a boolean"),
    ("out of range", _msg("/panslice/center", 1.5), "center=1.5 is out of range (valid: -1 .. 1)"),
    ("NaN", _msg("/panslice/width", float("nan")), "NaN is not a value"),
    ("+inf gain", _msg("/panslice/target_gain_db", float("inf")), "out of range"),
    ("fractional int", _msg("/panslice/band_count", 2.5), "must be a whole number"),
    ("band out of range", _msg("/panslice/band/9/gain_db", -6.0), "unknown address"),
    ("not live", _msg("/panslice/fft_size", 1024), "fft_size cannot change while running"),
    ("get with a string port", _msg("/panslice/get", "9001"), "one int port 1..65535"),
    ("subscribe to port 0", _msg("/panslice/subscribe", 0), "one int port 1..65535"),
    ("unknown preset", _msg("/panslice/preset/load", "nonesuch"), "unknown preset 'nonesuch'"),
    ("preset path", _msg("/panslice/preset/save", "../evil"), "bad preset name"),
    ("preset as number", _msg("/panslice/preset/load", 3), "expects one string"),
    ("garbage packet", b"hello, world", "malformed OSC packet"),
    ("truncated message", GOOD[:10], "malformed OSC packet"),
    ("type tag without comma", b"/panslice/center\x00\x00\x00\x00f\x00\x00\x00?\x00\x00\x00",
     "malformed OSC packet"),
    ("empty packet", b"", "malformed OSC packet"),
]


@pytest.mark.parametrize("case,data,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_messages_are_answered_with_an_error_and_change_nothing(rig, caplog, case, data, fragment):
    eng, controls, server = rig
    before = eng.params.as_dict()
    cl = client(server)
    cl._sock.sendto(data, ("127.0.0.1", server.port))
    err = replies(cl, "/panslice/error")[-1]
    assert fragment in err.params[0]
    assert "rejected" in caplog.text and fragment in caplog.text
    controls.on_block(0)
    assert eng.params.as_dict() == before and not controls.recorded
    assert server.malformed == (1 if "malformed" in fragment else 0)
    # the server is still there and still obeys good messages
    cl._sock.sendto(GOOD, ("127.0.0.1", server.port))
    assert get_all(cl)["/panslice/center"] == 0.5


def test_two_controllers_stay_in_sync_through_echoes(rig):
    eng, controls, server = rig
    a, b = client(server), client(server)
    for cl in (a, b):
        cl.send_message("/panslice/subscribe", [])
        replies(cl, osc.address(P.REGISTRY[-1].name))  # subscribing answers with every value
    a.send_message("/panslice/width", 0.75)
    for cl in (a, b):
        echo = [m for m in replies(cl, "/panslice/width") if m.address == "/panslice/width"]
        assert echo[-1].params == [0.75]
    b.send_message("/panslice/unsubscribe", [])
    get_all(b)  # barrier
    a.send_message("/panslice/softness", 0.25)
    assert replies(a, "/panslice/softness")[-1].params == [0.25]
    assert server.subscribers == [("127.0.0.1", a._sock.getsockname()[1])]


def test_presets_load_and_save_over_osc(rig, home):
    eng, controls, server = rig
    cl = client(server)
    cl.send_message("/panslice/width", 0.4)
    cl.send_message("/panslice/preset/save", "mine")
    assert replies(cl, "/panslice/preset/saved")[-1].params == ["mine"]
    saved = (home / ".config" / "panslice" / "presets" / "mine.toml").read_text()
    assert "width = 0.4" in saved and 'outputs = ["vocals", "accompaniment"]' in saved

    cl.send_message("/panslice/preset/load", "karaoke")
    state = get_all(cl)
    controls.on_block(0)
    assert state["/panslice/target_gain_db"] == -math.inf
    assert eng.params["target_gain_db"] == -math.inf
    cl.send_message("/panslice/preset/load", "low-latency")  # its fft_size needs a restart
    err = replies(cl, "/panslice/error")[-1].params[0]
    assert "applied except fft_size=2048, which need a restart" in err
    cl.send_message("/panslice/preset/load", "mine")
    assert get_all(cl)["/panslice/width"] == pytest.approx(0.4)


def wait_bound(port, timeout=20.0):
    """Until something (oscdump) listens on ``port``: binding it ourselves then fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def oscsend(port, addr, types="", *values):
    subprocess.run(["oscsend", "127.0.0.1", str(port), addr, types, *map(str, values)], check=True,
                   timeout=10)


def dump_lines(proc, wanted, timeout=15.0) -> list[str]:
    """oscdump's lines until ``wanted(lines)`` holds (or the time runs out)."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted(lines):
        line = proc.stdout.readline()
        if line:
            lines.append(line.split(" ", 1)[1].strip())  # drop oscdump's timestamp
    return lines


@needs_liblo
def test_get_subscribe_echo_and_meters_seen_by_oscdump(home, tmp_path):
    t = np.arange(2 * SR) / SR
    voice = pan(0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)  # all in the slice
    sf.write(str(tmp_path / "voice.wav"), voice.T, SR, subtype="FLOAT")
    chain = Chain([Stage()])
    controls = Controls(chain.stages)
    server = osc.OscServer(controls, chain.stages[0].params, port=0,
                           latency=lambda: chain.latency_samples).start()
    port = free_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    stop, loop = start_live(chain, tmp_path / "voice.wav", controls)
    try:
        wait_bound(port)
        oscsend(server.port, "/panslice/get", "i", port)
        got = dump_lines(dump, lambda ls: len(ls) >= len(P.REGISTRY) + 1)
        assert got == [f"{osc.address(p.name)} f {p.default:f}" for p in P.REGISTRY] + [
            f"/panslice/latency i {chain.latency_samples}"]
        assert chain.latency_samples == 2047  # blocks of 512: one hop, the work not spread

        oscsend(server.port, "/panslice/subscribe", "i", port)
        oscsend(server.port, "/panslice/width", "f", 0.5)
        got = dump_lines(dump, lambda ls: sum("/meter/target" in s for s in ls) >= 10)
        assert "/panslice/width f 0.500000" in got  # the echo
        target = [float(s.split()[-1]) for s in got if s.startswith("/panslice/meter/target")]
        rest = [float(s.split()[-1]) for s in got if s.startswith("/panslice/meter/rest")]
        assert target[-1] > 0.2 and rest[-1] < 0.05 * target[-1]  # the centre sine is the slice

        oscsend(server.port, "/panslice/target_gain_db", "f", "-inf")
        t0 = time.monotonic()
        got = dump_lines(dump, lambda ls: sum("/meter/target" in s for s in ls) >= 20)
        elapsed = time.monotonic() - t0
        assert "/panslice/target_gain_db f -inf" in got
        target = [float(s.split()[-1]) for s in got if s.startswith("/panslice/meter/target")]
        assert target[-1] < 1e-4  # the meter shows the slice gone
        # up to 30 Hz (an upper bound only: a loaded machine sends fewer, never more)
        assert len(target) <= osc.METER_HZ * elapsed + 2
    finally:
        stop.set()
        loop.join()
        dump.kill()
        dump.wait()
        server.stop()
    assert server.rejected == 0


@needs_liblo
def test_oscsend_changes_reach_the_engine(rig):
    eng, controls, server = rig
    oscsend(server.port, "/panslice/band/2/high_hz", "i", 8000)
    oscsend(server.port, "/panslice/rest_gain_db", "d", -12.5)
    cl = client(server)
    get_all(cl)
    controls.on_block(1024)
    assert eng.params["band.2.high_hz"] == 8000 and eng.params["rest_gain_db"] == -12.5
    assert controls.recorded == [(1024, "band.2.high_hz", 8000.0), (1024, "rest_gain_db", -12.5)]


def test_the_port_in_use_is_one_clear_error(rig):
    eng, controls, server = rig
    with pytest.raises(osc.OscError, match=f"cannot listen for OSC on 127.0.0.1:{server.port}"):
        osc.OscServer(controls, eng.params, port=server.port).start()


def test_readme_osc_table_is_the_generated_one():
    r = run_cli("osc-table")
    assert r.returncode == 0 and r.stdout == osc.table_markdown()
    assert osc.table_markdown() in (ROOT / "README.md").read_text(), (
        "README.md's OSC table is out of date: run 'panslice osc-table --readme README.md'")


def test_osc_table_rewrites_only_the_marked_part_of_a_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- osc-table:begin -->\nold\n<!-- osc-table:end -->\n\ntail\n")
    r = run_cli("osc-table", "--readme", readme)
    assert r.returncode == 0 and "updated" in r.stdout
    assert readme.read_text() == ("# x\n\n<!-- osc-table:begin -->\n" + osc.table_markdown()
                                  + "<!-- osc-table:end -->\n\ntail\n")
    assert "already up to date" in run_cli("osc-table", "--readme", readme).stdout
    readme.write_text("no markers\n")
    r = run_cli("osc-table", "--readme", readme)
    assert r.returncode == 1 and "no '<!-- osc-table:begin -->'" in r.stderr


def bundle(timetag: float, *changes: tuple[str, float]):
    """An OSC bundle built by python-osc: ``changes`` at ``timetag`` (seconds since the epoch)."""
    b = OscBundleBuilder(timetag)
    for addr, v in changes:
        m = OscMessageBuilder(addr)
        m.add_arg(v)
        b.add_content(m.build())
    return b.build()


def test_a_bundle_applies_all_its_messages(rig):
    eng, controls, server = rig
    cl = client(server)
    cl.send(bundle(IMMEDIATELY, ("/panslice/width", 0.5), ("/panslice/band/1/low_hz", 200.0)))
    get_all(cl)
    controls.on_block(512)
    assert eng.params["width"] == 0.5 and eng.params["band.1.low_hz"] == 200.0


def test_a_bundle_timed_in_the_future_applies_at_the_sample_position_of_its_time(home):
    """The bridge's clock stands still at t0 while it takes the bundles in the block at 1024:
    a bundle due at t0 + 60 s is due at sample 1024 + 60 * SR, and waits for the first block
    that starts there; immediate and past timetags apply in the block that takes them."""
    t0 = time.time()
    eng = Engine().prepare(SR, BLOCK)
    controls = Controls([eng], record=True, sample_rate=SR, clock=lambda: t0)
    server = osc.OscServer(controls, eng.params, port=0).start()
    try:
        cl = client(server)
        cl.send(bundle(t0 + 60.0, ("/panslice/width", 0.5), ("/panslice/center", -0.25)))
        cl.send(bundle(IMMEDIATELY, ("/panslice/rest_gain_db", -3.0)))
        cl.send(bundle(t0 - 10.0, ("/panslice/target_gain_db", -6.0)))
        get_all(cl)  # a barrier: every bundle has been handled
    finally:
        server.stop()
    controls.on_block(1024)
    assert controls.recorded == [(1024, "rest_gain_db", -3.0), (1024, "target_gain_db", -6.0)]
    assert controls.held == 2 and eng.params["width"] != 0.5
    due = 1024 + 60 * SR
    controls.on_block(due - 1)
    assert controls.held == 2 and len(controls.recorded) == 2
    controls.on_block(due)
    assert controls.held == 0
    assert controls.recorded[2:] == [(due, "width", 0.5), (due, "center", -0.25)]
    assert eng.params["width"] == 0.5 and eng.params["center"] == -0.25


def test_a_session_ending_before_a_timed_change_says_it_was_not_applied(home, capsys):
    from panslice.plugin.control.session import ControlSession

    chain = Chain([Stage(P.ParamSet())]).prepare(SR, BLOCK)
    with ControlSession(chain, SR, port=0) as cs:
        cl = client(cs.server)
        cl.send(bundle(time.time() + 600, ("/panslice/width", 0.5)))
        get_all(cl)
        cs.controls.on_block(0)
    assert "1 changes from timed OSC bundles were still waiting" in capsys.readouterr().err
    assert chain.stages[0].params["width"] != 0.5


def test_timed_changes_beyond_the_cap_are_rejected(home, monkeypatch):
    monkeypatch.setattr(hub, "MAX_HELD", 1)
    eng = Engine().prepare(SR, BLOCK)
    controls = Controls([eng], sample_rate=SR)
    server = osc.OscServer(controls, eng.params, port=0).start()
    try:
        cl = client(server)
        cl.send(bundle(time.time() + 600, ("/panslice/width", 0.5)))
        get_all(cl)
        controls.on_block(0)
        assert controls.held == 1
        cl.send(bundle(time.time() + 600, ("/panslice/width", 0.75)))
        assert "already 1 timed changes waiting" in replies(cl, "/panslice/error")[-1].params[0]
        cl.send_message("/panslice/center", 0.5)  # an untimed change still goes through
        get_all(cl)
    finally:
        server.stop()
    controls.on_block(512)
    assert eng.params["center"] == 0.5 and controls.held == 1


def test_a_flood_of_bad_messages_is_summed_up_in_the_log(rig, caplog):
    eng, controls, server = rig
    cl = client(server)
    for _ in range(200):
        cl._sock.sendto(_msg("/panslice/center", 9.0), ("127.0.0.1", server.port))
    get_all(cl)  # barrier: all 200 handled
    server.stop()
    shown = caplog.text.count("rejected /panslice/center")
    hidden = sum(int(n) for n in re.findall(r"(\d+) more rejected messages not logged or answered", caplog.text))
    assert server.rejected == 200 and shown + hidden == 200 and shown < 200


@pytest.mark.parametrize("args", [[0.25], [-math.inf], [3], [-7], [("d", 0.1)], [("h", 2**40)],
                                  [float("nan")], [], ["x"], [0.1, 0.2], [("b", b"\x00")]])
def test_the_one_number_fast_path_reads_what_python_osc_reads(args):
    from pythonosc.osc_message import OscMessage

    for addr in ("/panslice/width", "/panslice/band/10/gain_db", "/p", "/abc"):  # every padding
        data = _msg(addr, *args)
        fast = osc._one_number(data)
        ref = OscMessage(data)
        one_number = len(args) == 1 and not isinstance(ref.params[0], (str, bytes))
        assert fast is not None if one_number else fast is None
        if fast is not None:
            assert fast[0] == ref.address and (fast[1] == ref.params[0] or
                                               (math.isnan(fast[1]) and math.isnan(ref.params[0])))
            assert type(fast[1]) is type(ref.params[0])
    assert osc._one_number(_msg("/panslice/width", 0.25)[:-1]) is None  # truncated: python-osc judges


def test_a_chain_without_a_panslice_stage_says_so(home):
    controls = Controls([])
    server = osc.OscServer(controls, P.ParamSet(), port=0).start()
    try:
        cl = client(server)
        cl.send_message("/panslice/width", 0.5)
        assert "no panslice stage" in replies(cl, "/panslice/error")[-1].params[0]
        controls.on_block(0)
        assert controls.applied == 0
    finally:
        server.stop()


def test_a_stage_refusing_a_change_does_not_stop_the_audio_loop():
    class Refuses:
        def set(self, name, value):
            raise P.ParameterError(f"{name}: not now")

    controls = Controls([Refuses()], record=True)
    controls.submit("width", 0.5)
    controls.on_block(256)  # must not raise on the audio thread
    assert controls.failed == 1 and controls.applied == 0 and controls.recorded == []


@pytest.mark.parametrize("pattern,value,changed", [
    ("/panslice/band/*/gain_db", -6.0, [P.band_name(i, "gain_db") for i in range(1, P.MAX_BANDS + 1)]),
    ("/panslice/band/{1,3}/low_hz", 100.0, ["band.1.low_hz", "band.3.low_hz"]),
    ("/panslice/band/[!2-8]/high_hz", 9000.0, ["band.1.high_hz"]),
    ("/panslice/*_gain_db", -3.0, ["target_gain_db", "rest_gain_db"]),
    ("/panslice/ce?ter", 0.5, ["center"]),
])
def test_address_patterns_set_every_live_parameter_they_match(rig, pattern, value, changed):
    eng, controls, server = rig
    cl = client(server)
    cl.send_message(pattern, value)
    get_all(cl)
    controls.on_block(0)
    assert sorted(c[1] for c in controls.recorded) == sorted(changed)
    assert all(eng.params[n] == value for n in changed)


@pytest.mark.parametrize("pattern,fragment", [
    ("/panslice/*", "is out of range"),  # 5 suits no knob but ... all or nothing
    ("/panslice/band/9*/gain_db", "matches no live parameter"),
    ("/panslice/fft_*", "matches no live parameter"),  # structural knobs are never matched
])
def test_a_pattern_changes_all_it_matches_or_nothing(rig, pattern, fragment):
    eng, controls, server = rig
    cl = client(server)
    cl.send_message(pattern, 5.0)
    assert fragment in replies(cl, "/panslice/error")[-1].params[0]
    controls.on_block(0)
    assert controls.recorded == []


def test_inverted_band_edges_are_rejected_over_osc(rig):
    eng, controls, server = rig
    cl = client(server)
    cl.send_message("/panslice/band/1/high_hz", 100.0)
    cl.send_message("/panslice/band/1/low_hz", 20000.0)
    err = replies(cl, "/panslice/error")[-1].params[0]
    assert "band 1: low_hz (20000) must be below high_hz (100)" in err
    controls.on_block(0)
    assert eng.params["band.1.low_hz"] == 0.0 and eng.params["band.1.high_hz"] == 100.0


class LookaheadStage(Stage):
    """A stage standing for the ML look-ahead (a PriorStage has its ``missed`` counter)."""
    missed = 0


def test_ml_prior_cannot_start_in_a_session_without_the_look_ahead(rig, caplog):
    eng, controls, server = rig   # a session started at ml_prior 0: no look-ahead
    cl = client(server)
    for message in (("/panslice/ml_prior", 0.5), ("/panslice/ml_*", 0.5)):
        cl.send_message(*message)
        err = replies(cl, "/panslice/error")[-1].params[0]
        assert "ml_prior needs the ML look-ahead" in err and "--preset acapella-ml" in err
    cl.send_message("/panslice/preset/load", "acapella-ml")   # the rest of it applies
    err = replies(cl, "/panslice/error")[-1].params[0]
    assert "applied except fft_size=2048, ml_prior=0, which need a restart" in err
    state = get_all(cl)
    controls.on_block(0)
    assert eng.params["ml_prior"] == 0.0 and state["/panslice/ml_prior"] == 0.0
    assert eng.params["width"] == presets.load("acapella-ml").params["width"] != 0.2
    logged = [r.getMessage() for r in caplog.records if "/panslice/ml_prior" in r.getMessage()]
    assert len(logged) == 1 and "rejected" in logged[0] and "\n" not in logged[0]
    cl.send_message("/panslice/ml_prior", 0.0)   # setting it to 0 is always allowed
    assert get_all(cl)["/panslice/ml_prior"] == 0.0 and server.rejected == 3


def test_ml_prior_changes_in_a_session_with_the_look_ahead(home):
    st = LookaheadStage({"ml_prior": 1.0}).prepare(SR, BLOCK)
    controls = Controls([st])
    server = osc.OscServer(controls, st.params, port=0).start()
    try:
        cl = client(server)
        cl.send_message("/panslice/ml_prior", 0.25)
        assert get_all(cl)["/panslice/ml_prior"] == 0.25 and server.rejected == 0
        controls.on_block(0)
        assert st.params["ml_prior"] == 0.25
    finally:
        server.stop()
