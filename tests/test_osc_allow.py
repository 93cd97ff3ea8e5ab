"""OSC beyond loopback (issue 18, defect 7): an allow-list of senders, replies only to the
sender's own address unless it is trusted, a warning when listening beyond this machine, and
presets saved over OSC never shadow shipped ones."""

import pytest

from conftest import run_cli
from panslice.dsp.engine import Engine
from panslice.plugin.control import osc
from panslice.plugin.control.bridge import Controls
from panslice.plugin.formats import presets

SR = 44100
FAR = ("10.0.0.5", 5000)      # a sender on the network
NEAR = ("127.0.0.1", 5000)


@pytest.fixture
def server(home):
    def make(allow=None):
        eng = Engine().prepare(SR, 512)
        s = osc.OscServer(Controls([eng]), eng.params, port=0, allow=osc.parse_allow(allow))
        s.sent = []
        s._send = lambda dgram, to: s.sent.append((to, dgram))
        return s
    return make


def addressed(s):
    return {to for to, _ in s.sent}


def test_senders_not_allowed_are_dropped_unanswered(server):
    s = server(["192.168.1.0/24"])
    s.handle_packet(osc._msg("/panslice/get"), FAR)
    s.handle_packet(osc._msg("/panslice/width", 0.9), FAR)
    assert s.sent == [] and s.refused == 2 and s.accepted == 0
    assert "2 packets from senders not allowed" in s.summary()
    s.handle_packet(osc._msg("/panslice/get", 7000), ("192.168.1.20", 5000))
    assert addressed(s) == {("192.168.1.20", 7000)}


def test_replies_elsewhere_only_for_trusted_senders(server):
    s = server()
    s.handle_packet(osc._msg("/panslice/get", 7), FAR)            # reflection towards port 7
    s.handle_packet(osc._msg("/panslice/subscribe", 7), FAR)
    assert addressed(s) == {FAR} and s.subscribers == []           # only errors, to the sender
    assert all(b"/panslice/error" in d for _, d in s.sent)
    s.sent.clear()
    s.handle_packet(osc._msg("/panslice/get"), FAR)               # its own address: answered
    assert addressed(s) == {FAR} and len(s.sent) > 10
    s.sent.clear()
    s.handle_packet(osc._msg("/panslice/subscribe", 9001), NEAR)  # this machine: any port
    assert s.subscribers == [("127.0.0.1", 9001)]
    allowed = server(["10.0.0.0/8"])
    allowed.handle_packet(osc._msg("/panslice/get", 7000), FAR)
    assert addressed(allowed) == {("10.0.0.5", 7000)}


def test_a_preset_saved_over_osc_never_shadows_a_shipped_one(server, home):
    s = server()
    s.handle_packet(osc._msg("/panslice/preset/save", "karaoke"), NEAR)
    assert s.rejected == 1 and b"/panslice/error" in s.sent[-1][1]
    assert "karaoke" not in presets.user_names()
    assert presets.load("karaoke").source == "shipped"


def test_listening_beyond_loopback_is_said():
    assert osc.exposure_warning("127.0.0.1", 9000, []) is None
    assert osc.exposure_warning("localhost", 9000, []) is None
    said = osc.exposure_warning("0.0.0.0", 9000, [])
    assert "anyone who can reach it" in said and "--osc-allow" in said
    assert "only 192.168.1.0/24" in osc.exposure_warning("0.0.0.0", 9000, osc.parse_allow(["192.168.1.0/24"]))


def test_a_bad_allow_entry_is_refused_before_work(tmp_path):
    r = run_cli("serve", tmp_path / "x.wav", "--osc-allow", "not-an-address")
    assert r.returncode == 2 and "--osc-allow 'not-an-address'" in r.stderr
