"""``live --jack --jack-transport`` against a real ``jackd -d dummy``: a second JACK client
stops, locates and starts the transport. Recorded automation is stamped in the transport's
frames; played automation follows the transport, a locate setting every knob to its value at
that frame (what OSC's ``get`` then reports)."""

import re
import shutil
import sys

import pytest

from conftest import free_port
from panslice.plugin.formats import automation, presets
from test_jack import PERIOD, SR, jack_server, wait_for  # noqa: F401
from test_jack_daw import Osc, Proc, jack_env

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(shutil.which("jackd") is None,
                                 reason="jackd is not installed (Debian: apt-get install jackd2)")]

RING = 2 * PERIOD   # panslice's buffering at the default block (the period): two periods


def controller(server):
    """A second JACK client that moves the transport, with the transport stopped at 0."""
    import jack

    c = jack.Client("transport-test", no_start_server=True, servername=server)
    c.activate()
    c.transport_stop()
    return c


def locate(c, frame: int) -> None:
    c.transport_frame = frame            # jack_transport_locate
    wait_for(lambda: c.transport_frame == frame, 10, f"the transport at {frame}")


def session(server, *args) -> tuple[Proc, Osc]:
    port = free_port()
    p = Proc([sys.executable, "-m", "panslice.plugin.cli", "live", "--jack", "--jack-transport",
              "--osc-port", str(port), *map(str, args)], jack_env(server))
    return p, Osc(port, p)


def test_recorded_automation_is_stamped_in_transport_frames(jack_server, tmp_path):
    c = controller(jack_server)
    first, second = 50_000_049, 90_000_077   # far beyond any input position of a short session
    locate(c, first)
    moves = tmp_path / "moves.csv"
    p, osc = session(jack_server, "--record-automation", moves)
    try:
        osc.send("center", 0.5)               # stopped at `first`: stamped there exactly
        osc.blocks()
        locate(c, second)
        osc.blocks()
        osc.send("width", 0.5)                # stopped at `second`
        osc.blocks()
        c.transport_start()
        wait_for(lambda: c.transport_frame > second + 4 * PERIOD, 10, "the transport to roll")
        before = c.transport_frame
        osc.send("center", -0.25)             # rolling: the frame its block came in at
        osc.blocks()
        after = c.transport_frame
    finally:
        rc = p.stop()
        c.close()
    assert rc == 0, p.text
    rows = automation.read(moves).changes
    assert rows[:2] == [(first, "center", 0.5), (second, "width", 0.5)], rows
    (stamp, name, value), = rows[2:]
    print(f"\nrolling from {second}: change sent at frame {before}, stamped {stamp}, "
          f"{after} after; stopped: {rows[:2]}")
    assert (name, value) == ("center", -0.25)
    # a cycle's first frame (the transport started on a cycle), no earlier than the
    # buffering allows and no later than when it was applied
    assert (stamp - second) % PERIOD == 0
    assert before - RING - PERIOD <= stamp <= after


def moves_file(path):
    """Automation at transport frames 1e6, 2e6 and 3e6 (center), with width at 2e6."""
    start = presets.load("vocal-lift").params.copy()
    start.update({"center": 0.0, "width": 0.25})
    changes = [(1_000_000, "center", 0.5), (2_000_000, "center", -0.4), (2_000_000, "width", 0.6),
               (3_000_000, "center", 0.125)]
    automation.write(path, SR, start, changes)
    return path


def test_played_automation_follows_the_transport_when_it_locates(jack_server, tmp_path):
    c = controller(jack_server)
    auto = moves_file(tmp_path / "moves.csv")
    p, osc = session(jack_server, "--automation", auto)
    seen = {}
    try:
        for frame in (2_500_000, 1_500_000, 0, 2_000_000, 999_999):   # stopped, located
            locate(c, frame)
            osc.blocks()
            seen[frame] = osc.knobs()
        osc.send("center", 0.75)              # an OSC change holds while the automation is still
        osc.blocks()
        held = osc.knobs()["center"]
        locate(c, 2_995_000)                  # then roll across a row
        c.transport_start()
        wait_for(lambda: c.transport_frame > 3_000_000 + 4 * PERIOD, 10, "the transport to pass 3e6")
        osc.blocks()
        seen["rolled"] = osc.knobs()
        c.transport_frame = 1_200_000         # a locate while rolling
        wait_for(lambda: 1_200_000 <= c.transport_frame < 2_000_000, 10, "the transport at 1.2e6")
        osc.blocks()
        seen["relocated"] = osc.knobs()
    finally:
        rc = p.stop()
        c.close()
    assert rc == 0, p.text
    want = {2_500_000: (-0.4, 0.6), 1_500_000: (0.5, 0.25), 0: (0.0, 0.25),
            2_000_000: (-0.4, 0.6), 999_999: (0.0, 0.25), "rolled": (0.125, 0.6),
            "relocated": (0.5, 0.25)}
    got = {k: (v["center"], v["width"]) for k, v in seen.items()}
    print(f"\nknobs after each locate: {got}; OSC centre while the automation was still: {held}")
    for k, values in want.items():
        assert got[k] == pytest.approx(values, abs=1e-6), (k, got)
    assert held == pytest.approx(0.75)
    followed = int(re.search(r"\((\d+) locates followed\)", p.text)[1])
    assert followed >= 7, p.text          # five while stopped, to 2_995_000, one while rolling
