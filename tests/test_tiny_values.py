"""Knob values at the edge of the floats (5e-324, the smallest denormal) are legal and must not
divide by zero: one OSC message of that size used to end a live session (issue 18, defect 1)."""

import numpy as np
import pytest

from conftest import noise
from panslice.dsp import Engine

SR = 44100
TINY = 5e-324


@pytest.mark.parametrize("name", ["smooth_ms", "ambience_ms", "phase_tolerance", "width",
                                  "softness", "smooth_hz", "percussion_reject"])
def test_a_denormal_knob_processes_like_zero(name):
    x = noise(3 * 2048, seed=4)
    tiny = Engine({name: TINY, "smooth_hz": 20.0}).prepare(SR, 2048).process(x)
    zero = Engine({name: 0.0, "smooth_hz": 20.0}).prepare(SR, 2048).process(x)
    assert np.all(np.isfinite(tiny))
    if name in ("smooth_ms", "ambience_ms"):
        assert np.array_equal(tiny, zero)


def test_a_denormal_knob_set_while_running():
    eng = Engine({"smooth_hz": 20.0}).prepare(SR, 512)
    x = noise(20 * 512, seed=5)
    for i in range(20):
        if i == 3:
            eng.set("smooth_ms", TINY)
            eng.set("ambience_ms", TINY)
        out = eng.process(np.ascontiguousarray(x[:, i * 512:(i + 1) * 512]))
        assert np.all(np.isfinite(out))


def test_one_osc_message_does_not_end_a_live_session(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from pythonosc.osc_message_builder import OscMessageBuilder
    from pythonosc.udp_client import SimpleUDPClient

    from conftest import free_port
    from panslice.plugin.formats import audiofile

    song = tmp_path / "song.wav"
    audiofile.write_stereo(song, noise(SR * 2), SR)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", "live", "--input-file",
                             str(song), "--loop", "--output", "none", "--output-file",
                             str(tmp_path / "heard.wav"), "--osc-port", str(port)],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:                      # until the server listens (an event)
        if "OSC on udp://" in line:
            break
    cl = SimpleUDPClient("127.0.0.1", port)
    for name in ("smooth_ms", "ambience_ms"):     # as a double ('d'): a float32 would be 0
        msg = OscMessageBuilder(f"/panslice/{name}")
        msg.add_arg(TINY, "d")
        cl.send(msg.build())
    cl.send_message("/panslice/get", [])
    for m in cl.get_messages(30):                 # the changes are in (answers come in order)
        if m.address == "/panslice/ambience_ms":
            assert m.params == [0.0] or m.params[0] < 1e-30
            break
    grown = lambda: sum(p.stat().st_size for p in tmp_path.glob(".heard.*"))  # noqa: E731
    size = grown()
    while proc.poll() is None and grown() < size + 4 * SR * 1.5:  # frames processed since
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 0, err
    assert "3 accepted" in err and (tmp_path / "heard.wav").exists()
