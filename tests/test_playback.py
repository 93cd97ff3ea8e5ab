"""Automation played in a live session (control/playback.py): the knobs follow the session's
clock, rows as it passes them and every knob at once where it jumps; OSC changes are recorded
at the clock's time."""

import math
import re

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli
from panslice.plugin.control.bridge import Controls
from panslice.plugin.control.playback import Player, Timeline
from panslice.plugin.formats import automation, presets
from panslice.plugin.formats.automation import Automation

SR = 44100


class Knobs:
    """A stage that keeps what it was set to."""

    def __init__(self):
        self.values: dict[str, float] = {}
        self.sets = 0

    def set(self, name, value):
        self.values[name] = value
        self.sets += 1


def player(changes, start=None, block=100):
    st = Knobs()
    told = []
    auto = Automation(44100, {}, start if start is not None else {"center": 0.0}, changes)
    return Player(auto, [st], block, mirror=lambda n, v: told.append((n, v))), st, told


def test_rows_play_as_the_clock_passes_them_in_file_order_at_one_position():
    p, st, told = player([(250, "center", 0.5), (100, "center", 0.2), (100, "center", 0.3)])
    p.on_block(0)
    assert st.values == {"center": 0.0}
    p.on_block(100)
    assert st.values == {"center": 0.3}       # the last of two rows at one position
    p.on_block(200)
    assert st.values == {"center": 0.3} and st.sets == 2   # nothing moved: nothing set
    p.on_block(300)
    assert st.values == {"center": 0.5}
    assert told == [("center", 0.0), ("center", 0.3), ("center", 0.5)] and p.jumps == 0


def test_a_jump_sets_every_knob_to_its_value_there_and_a_knob_without_start_waits():
    p, st, _ = player([(1000, "center", 0.5), (5000, "width", 0.7)])
    p.on_block(6000)
    assert st.values == {"center": 0.5, "width": 0.7}
    p.on_block(0)                              # located back: width has no value there
    assert st.values == {"center": 0.0, "width": 0.7} and p.jumps == 1
    st.values["center"] = 0.9                  # an OSC change: holds while the clock stands
    p.on_block(0)
    assert st.values["center"] == 0.9
    p.on_block(3000)                           # a jump sets it back
    assert st.values["center"] == 0.5 and p.jumps == 2


def test_timeline_records_osc_changes_at_the_clock_and_plays_there():
    st = Knobs()
    ctl = Controls([st], record=True)
    auto = Automation(44100, {}, {}, [(5_000_000, "width", 0.4)])
    tl = Timeline(lambda pos: pos + 5_000_000, ctl, Player(auto, [st], 256))
    tl.on_block(0)
    ctl.submit("center", 0.25)
    tl.on_block(256)
    assert ctl.recorded == [(5_000_256, "center", 0.25)]
    assert st.values == {"width": 0.4, "center": 0.25}


@pytest.mark.slow
def test_live_automation_on_block_starts_is_what_bounce_automation_renders(tmp_path):
    """``live --automation`` (no JACK: the clock is the input position) with rows on block
    starts plays what ``bounce --automation`` renders (float32 rounding apart: a live stage
    sums its two outputs), and the rows are heard (the plain bounce differs)."""
    t = np.arange(3 * SR) / SR
    x = 0.4 * pan(np.sin(2 * np.pi * 330 * t), 0.0) + pan(noise(3 * SR)[0], -0.6)
    song = tmp_path / "song.wav"
    sf.write(str(song), x.astype(np.float32).T, SR, subtype="FLOAT")
    start = presets.load("vocal-lift").params
    moves = [(43 * 512, "target_gain_db", -math.inf), (43 * 512, "width", 0.125),
             (129 * 512, "center", -0.5), (129 * 512, "center", -0.25)]
    automation.write(tmp_path / "moves.csv", SR, start, moves)
    r = run_cli("live", "--input-file", song, "--output", "none", "--output-file", tmp_path / "heard.wav",
                "--bit-depth", "32", "--no-osc", "--automation", tmp_path / "moves.csv")
    assert r.returncode == 0, r.stderr
    assert "played" in r.stderr and "moves.csv" in r.stderr
    lat = int(re.search(r"latency (\d+) samples", r.stderr)[1])
    heard = sf.read(str(tmp_path / "heard.wav"), dtype="float32")[0].T
    out = {}
    for name, extra in (("replay", ["--automation", tmp_path / "moves.csv"]), ("plain", [])):
        r = run_cli("bounce", song, *extra, "-o", tmp_path / f"{name}.wav", "--bit-depth", "32", "-q")
        assert r.returncode == 0, r.stderr
        out[name] = sf.read(str(tmp_path / f"{name}.wav"), dtype="float32")[0].T
    n = x.shape[1]
    diff = np.abs(heard[:, lat:lat + n] - out["replay"]).max()
    print(f"\nlive --automation vs bounce --automation: max difference {diff:.2g} (latency {lat})")
    assert diff < 1e-6
    assert np.abs(out["plain"] - out["replay"]).max() > 0.1
