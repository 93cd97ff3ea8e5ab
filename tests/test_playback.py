"""Automation played in a live session (control/playback.py): the knobs follow the session's
clock, rows as it passes them and every knob at once where it jumps; OSC changes are recorded
at the clock's time."""

from panslice.plugin.control.bridge import Controls
from panslice.plugin.control.playback import Player, Timeline
from panslice.plugin.formats.automation import Automation


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
