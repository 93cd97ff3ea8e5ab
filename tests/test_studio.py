"""The studio without a browser: the monitor's outputs, the panogram's axes, the page's control
path shared with OSC (a WebSocket client steers, OSC sees it, and back), and who is refused."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import aiohttp
import numpy as np
import pytest
import soundfile as sf
from pythonosc.udp_client import SimpleUDPClient

from conftest import noise, pan
from panslice.dsp.engine import Engine
from panslice.dsp.frames import FrameReader
from panslice.plugin.control.session import ControlSession
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage
from panslice.plugin.live import loop as live, streams
from panslice.plugin.studio import guard, monitor as mon
from panslice.plugin.studio.page import bounce_command
from panslice.plugin.studio.session import StudioSession
from panslice.plugin.studio.visuals import AZ_BINS, RELEASE_DB, Panogram, Visuals

SR = 44100
BLOCK = 512
PARAMS = {"center": 0.3, "width": 0.2, "target_gain_db": 4.0, "rest_gain_db": -3.0}


def run_blocks(chain, x: np.ndarray, block: int = BLOCK) -> np.ndarray:
    out = np.zeros_like(x)
    for i in range(0, x.shape[1], block):
        chain.process_block(x[:, i:i + block], out[:, i:i + block])
    return out


@pytest.mark.parametrize("mode", mon.MODES)
def test_monitor_plays_each_output_without_touching_the_gains(mode):
    x = noise(SR)
    chain = Chain([Stage(PARAMS)]).prepare(SR, BLOCK)
    m = mon.Monitor(chain)
    m.set_mode(mode)
    m.reset()  # soloed, the gains jump to unity (playing, they glide there)
    got = run_blocks(m, x)
    # soloed, the gains are held at unity: the slice or the rest as cut, at 0 dB
    solo = mode in ("slice", "rest")
    ref = Engine({**PARAMS, "target_gain_db": 0.0, "rest_gain_db": 0.0} if solo else PARAMS).prepare(SR, BLOCK)
    parts = np.concatenate([ref.process_split(x[:, i:i + BLOCK]) for i in range(0, SR, BLOCK)], axis=-1)
    lat = chain.latency_samples
    want = {"mix": parts[0] + parts[1], "slice": parts[0], "rest": parts[1],
            "bypass": np.pad(x, ((0, 0), (lat, 0)))[:, :SR]}[mode]
    np.testing.assert_array_equal(got, want) if mode != "mix" else \
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert chain.stages[0].params["target_gain_db"] == 4.0  # stored gains as they were


def test_slice_alone_is_heard_in_karaoke_and_the_gains_come_back():
    """Karaoke's slice gain is -inf: soloed, the slice plays at unity (the unity stem, to
    rounding); back on the mix, the mix is karaoke's again and no gain was ever changed."""
    karaoke = {**PARAMS, "target_gain_db": float("-inf"), "rest_gain_db": 0.0}
    x = noise(SR, seed=7) + pan(0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR), 0.3)
    m = mon.Monitor(Chain([Stage(karaoke)]).prepare(SR, BLOCK))
    m.set_mode("slice")
    m.reset()  # gains jump to where they are held (the studio restarts the chain on play)
    heard = run_blocks(m, x)
    stem = Engine(karaoke, unity=True).prepare(SR, BLOCK).process_split(x.astype(np.float32))[0]
    np.testing.assert_allclose(heard, stem, atol=1e-5)
    assert np.abs(heard).max() > 0.1
    assert m.stages[0].params["target_gain_db"] == float("-inf")
    m.set_mode("mix")
    m.stages[0].set("width", 0.25)  # a knob moved on the way back: the gains stay the person's
    m.reset()
    plain = Chain([Stage({**karaoke, "width": 0.25})]).prepare(SR, BLOCK)
    np.testing.assert_array_equal(run_blocks(m, x), run_blocks(plain, x))


def test_a_gain_set_while_soloed_is_stored_and_heard_after():
    m = mon.Monitor(Chain([Stage(PARAMS)]).prepare(SR, BLOCK))
    m.set_mode("rest")
    run_blocks(m, noise(4 * BLOCK))
    m.stages[0].set("rest_gain_db", float("-inf"))  # soloed: stored, not heard yet
    x = noise(SR // 2, seed=8)
    m.reset()
    assert np.abs(run_blocks(m, x)).max() > 0.05
    m.set_mode("mix")
    m.reset()
    want = run_blocks(Chain([Stage({**PARAMS, "rest_gain_db": float("-inf")})]).prepare(SR, BLOCK), x)
    np.testing.assert_array_equal(run_blocks(m, x), want)


def test_monitor_mix_is_the_chain_itself_bit_for_bit():
    x = noise(SR, seed=5)
    plain = run_blocks(Chain([Stage(PARAMS)]).prepare(SR, BLOCK), x)
    m = mon.Monitor(Chain([Stage(PARAMS)]).prepare(SR, BLOCK))
    np.testing.assert_array_equal(run_blocks(m, x), plain)


def test_monitor_solo_silences_a_split_stage_branch():
    x = noise(SR // 2, seed=2)
    chain = Chain([Stage(PARAMS, target=Chain([]))]).prepare(SR, BLOCK)
    m = mon.Monitor(chain)
    m.set_mode("rest")
    m.reset()
    got = run_blocks(m, x)
    ref = Engine({**PARAMS, "target_gain_db": 0.0, "rest_gain_db": 0.0}).prepare(SR, BLOCK)
    rest = np.concatenate([ref.process_split(x[:, i:i + BLOCK])[1] for i in range(0, x.shape[1], BLOCK)], -1)
    np.testing.assert_array_equal(got, rest)


def engine_frames(x: np.ndarray) -> tuple[np.ndarray, Engine]:
    """The frames an engine publishes as it streams ``x`` (the last 16)."""
    eng = Engine().prepare(SR, BLOCK)
    eng.publish_frames(16)
    got = np.zeros((16, 2, eng.fft_size // 2 + 1))
    for i in range(0, x.shape[1], BLOCK):
        eng.process(x[:, i:i + BLOCK])
    return got[:FrameReader(eng).read(got)], eng


def test_panogram_shows_a_panned_tone_at_its_azimuth_and_frequency():
    """Drawn from the engine's own frames: the tone's row and azimuth, 0 dB for full scale."""
    t = np.arange(SR // 4) / SR
    frames, eng = engine_frames(pan(np.sin(2 * np.pi * 1200 * t), 0.5).astype(np.float32))
    pano = Panogram(SR, eng.fft_size)
    pano.add(frames[-1:])
    lv = pano.levels().reshape(pano.rows, AZ_BINS)
    row, col = np.unravel_index(np.argmax(lv), lv.shape)
    assert pano.edges[row] <= 1200 <= pano.edges[row + 1]
    assert abs((col + 0.5) / AZ_BINS * 2 - 1 - 0.5) < 0.03
    assert (lv > 0).all(axis=1).sum() < pano.rows  # not everything lit: the scale has a floor
    assert -12 < pano.top < 0  # a sine at -3 dB a channel, its energy shared by the row's bins


def test_spectrogram_column_lights_the_tone_row_wherever_it_sits():
    """The live time view's newest column: a tone's row, whatever its azimuth, brightest."""
    t = np.arange(SR // 4) / SR
    for where in (-0.7, 0.0, 0.7):
        frames, eng = engine_frames(pan(np.sin(2 * np.pi * 3000 * t), where).astype(np.float32))
        pano = Panogram(SR, eng.fft_size)
        pano.add(frames[-2:])
        col = pano.column()
        assert col.shape == (pano.rows,) and col.dtype == np.uint8
        row = int(np.argmax(col))
        assert pano.edges[row] <= 3000 <= pano.edges[row + 1]
        assert col[row] == 255 and col[:row - 3].max() < 128


def test_visuals_draw_the_engines_frames_and_decay_when_they_come_slower():
    """The visuals opt the engine in; each picture takes the frames that came since the last;
    a picture with none (frames slower than pictures) decays the held picture and repeats the
    column, and when frames stop for longer (half a second) there is no picture."""
    eng = Engine().prepare(SR, BLOCK)
    vis = Visuals(eng, SR, lambda b: None, levels=lambda: (0.0, 0.0), position=lambda: -1.0)
    assert eng.published is not None
    assert not vis.step(0.0)  # no frame yet
    x = pan(np.sin(2 * np.pi * 1000 * np.arange(SR // 4) / SR), -0.3).astype(np.float32)
    for i in range(0, x.shape[1], BLOCK):
        eng.process(x[:, i:i + BLOCK])
    assert vis.step(1.0) and vis.reader.seen == eng.frames_processed
    held, col = vis.pano.held.copy(), vis.pano.column()
    assert vis.step(1.0 + 0.5 * vis.patience)  # no new frame, yet frames are still due
    np.testing.assert_allclose(vis.pano.held, held - RELEASE_DB)
    np.testing.assert_array_equal(vis.pano.column(), col)
    assert not vis.step(1.0 + 1.5 * vis.patience)
    # of the ring's 16 slots the newest 15 are safe to copy (the 16th is the one the writer is
    # on next): the older frames were skipped, the picture decimates
    assert vis.lost == eng.frames_processed - 15
    # a chain without a panslice stage: no engine, no pictures
    assert not Visuals(None, SR, lambda b: None, levels=lambda: (0.0, 0.0), position=lambda: -1.0).step(0.0)


def test_guard_refuses_foreign_hosts_and_origins_and_asks_for_the_token():
    g = guard.Guard("127.0.0.1", None)
    assert g.check("127.0.0.1:8765", "http://127.0.0.1:8765", None, True) is None
    assert g.check("localhost:8765", "http://localhost:8765", None, True) is None
    assert "origin" in g.check("127.0.0.1:8765", "http://evil.example", None, True)
    assert "origin" in g.check("127.0.0.1:8765", "http://127.0.0.1:9999", None, True)
    assert "host" in g.check("evil.example:8765", None, None, False)  # DNS rebinding
    token = guard.new_token("0.0.0.0")
    g = guard.Guard("0.0.0.0", token)
    assert "token" in g.check("studio.lan:8765", "http://studio.lan:8765", None, True)
    assert "token" in g.check("studio.lan:8765", None, "wrong", False)
    assert g.check("studio.lan:8765", "http://studio.lan:8765", token, True) is None
    assert "origin" in g.check("studio.lan:8765", "http://evil.example", token, True)
    assert guard.new_token("127.0.0.2") is None and guard.new_token("::1") is None


def test_bounce_command_sets_what_differs_from_the_preset():
    from panslice.plugin.formats import presets

    state = presets.load("karaoke").params.as_dict()
    state.update(width=0.35, rest_gain_db=float("-inf"))
    cmd = bounce_command("my song.wav", state, "karaoke", None)
    assert cmd.startswith("panslice bounce 'my song.wav' --preset karaoke ")
    assert cmd.count("--set") == 2 and "--set width=0.35" in cmd and "--set rest_gain_db=-inf" in cmd


# -- a real session in this process: live loop, OSC, the page's server ------------------------
@pytest.fixture
def session(home, tmp_path):
    sf.write(str(tmp_path / "song.wav"), noise(SR, seed=1).T, SR, subtype="FLOAT")
    chain = Chain([Stage()]).prepare(SR, BLOCK)
    stream = streams.Duplex(streams.FileSource(tmp_path / "song.wav", BLOCK, loop=True), [])
    ctl = ControlSession(chain, SR, port=0, record_to=str(tmp_path / "auto.csv"))
    stop = threading.Event()
    with ctl, StudioSession(chain, stream, ctl, port=0, song=str(tmp_path / "song.wav")) as studio:
        th = threading.Thread(target=live.run, args=(studio.chain, stream, BLOCK),
                              kwargs={"controls": ctl.controls, "stop": stop}, daemon=True)
        th.start()
        yield studio, ctl
        stop.set()
        th.join()


def wait_for(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


async def _ws_exchange(url: str, sends: list[dict], until, headers=None) -> list:
    """Connect, send ``sends``, collect JSON messages until ``until(messages)`` holds."""
    got = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, headers=headers or {}) as ws:
            for m in sends:
                await ws.send_str(json.dumps(m))
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
                    if until(got):
                        return got
    return got


def test_page_change_reaches_osc_and_osc_change_reaches_the_page(session):
    studio, ctl = session
    url = f"ws://127.0.0.1:{studio.server.port}/ws"
    got = asyncio.run(asyncio.wait_for(_ws_exchange(
        url, [{"t": "set", "name": "width", "value": 0.6}],
        lambda ms: any(m["t"] == "param" and m["name"] == "width" for m in ms)), 20))
    assert got[0]["t"] == "hello" and {"name", "unit", "group"} <= set(got[0]["params"][0])
    assert ctl.server.hub.state["width"] == 0.6
    wait_for(lambda: any(c[1:] == ("width", 0.6) for c in ctl.controls.recorded))  # --record-automation
    osc = SimpleUDPClient("127.0.0.1", ctl.server.port)

    async def osc_then_echo():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url) as ws:
                await ws.receive()  # hello
                osc.send_message("/panslice/center", -0.4)
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("name") == "center":
                        return json.loads(msg.data)
    echo = asyncio.run(asyncio.wait_for(osc_then_echo(), 20))
    assert echo["t"] == "param" and echo["value"] == pytest.approx(-0.4)  # OSC sent a float32


def test_page_rejects_bad_values_like_osc_does(session):
    studio, ctl = session
    url = f"ws://127.0.0.1:{studio.server.port}/ws"
    got = asyncio.run(asyncio.wait_for(_ws_exchange(
        url, [{"t": "set", "name": "center", "value": 1.5}, {"t": "set", "name": "fft_size", "value": 1024},
              {"t": "preset_save", "name": "../evil"}],
        lambda ms: sum(m["t"] == "error" for m in ms) >= 3), 20))
    errors = [m["text"] for m in got if m["t"] == "error"]
    assert "out of range" in errors[0] and "cannot change while running" in errors[1]
    assert "bad preset name" in errors[2]
    assert ctl.server.hub.state["center"] == 0.0


def test_foreign_origin_is_refused(session):
    studio, _ = session

    async def attempt():
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await http.ws_connect(f"ws://127.0.0.1:{studio.server.port}/ws",
                                      headers={"Origin": "http://evil.example"})
            return e.value.status
    assert asyncio.run(attempt()) == 403
    assert studio.server.refused == 1


def test_non_loopback_host_needs_the_token(home, tmp_path):
    sf.write(str(tmp_path / "song.wav"), noise(SR // 4).T, SR)
    chain = Chain([Stage()]).prepare(SR, BLOCK)
    stream = streams.Duplex(streams.FileSource(tmp_path / "song.wav", BLOCK, loop=True), [])
    with ControlSession(chain, SR, port=0) as ctl, \
            StudioSession(chain, stream, ctl, host="0.0.0.0", port=0) as studio:
        assert studio.token and f"?token={studio.token}" in studio.url

        async def statuses():
            base = f"http://127.0.0.1:{studio.server.port}"
            async with aiohttp.ClientSession() as http:
                out = []
                for q in ("", "?token=wrong", f"?token={studio.token}"):
                    async with http.get(base + "/" + q) as r:
                        out.append(r.status)
                async with http.ws_connect(f"{base}/ws?token={studio.token}") as ws:
                    out.append(json.loads((await ws.receive()).data)["t"])
                return out
        assert asyncio.run(asyncio.wait_for(statuses(), 20)) == [403, 403, 200, "hello"]


# -- painted regions and bounce from the page ---------------------------------------------------
REGION = {"name": "crash", "start": 0.25, "end": 0.6, "low_hz": 2000, "high_hz": 16000,
          "azimuth": [-0.2, 0.5], "target_gain_db": "-inf", "rest_gain_db": -12, "move_to": "", "fade": 0.02}


def test_regions_round_trip_through_the_edits_file(tmp_path):
    from panslice.plugin.formats import edits
    from panslice.plugin.studio import regions as R

    got = R.check([dict(REGION), {**REGION, "name": "", "move_to": "target", "target_gain_db": 0}])
    R.save(tmp_path / "e.toml", got)
    assert edits.load(tmp_path / "e.toml") == got == R.check(R.to_page(got))
    R.save(tmp_path / "none.toml", [])  # every region deleted: a file bounce --edits reads too
    assert R.load(tmp_path / "none.toml") == [] and R.load(tmp_path / "absent.toml") == []
    assert edits.load(tmp_path / "none.toml") == [] and edits.rows([]).shape == (0, 10)
    with pytest.raises(Exception, match="start .* must be before end"):
        R.check([{**REGION, "start": 1.0}])
    rows = edits.rows(got)
    np.testing.assert_array_equal(R.engine_rows(rows, 0, SR, SR)[:2], rows)  # from the song's start
    moved = R.engine_rows(rows, -SR // 4, SR, SR)  # played from 0.25 s, wrapping at 1 s
    assert moved[:, :2].tolist() == [[0.0, 0.35], [0.0, 0.35], [1.0, 1.35], [1.0, 1.35]]
    cut = R.engine_rows(rows, -SR // 4, SR, SR, until=0.3 * SR)  # a seek at 0.3 s: the old place ends
    assert cut[:, :2].tolist() == [[0.0, pytest.approx(0.3)]] * 2
    after = R.engine_rows(rows, SR, SR, SR, since=SR)  # the second pass, from its start on
    np.testing.assert_allclose(after[:, :2], [[1.25, 1.6]] * 2 + [[2.25, 2.6]] * 2)


def play_song(tmp_path, x: np.ndarray, m: mon.Monitor, blocks: int, *, events=None) -> np.ndarray:
    """``x`` as a looping song played in the studio through ``m``, paused for 3 blocks, then
    played: what is heard over ``blocks`` blocks. ``events`` {block: call(transport)} act
    between blocks."""
    from panslice.plugin.studio.transport import Transport

    sf.write(str(tmp_path / "song.wav"), x.T, SR, subtype="FLOAT")
    src = streams.FileSource(tmp_path / "song.wav", BLOCK, loop=True, sleep=lambda s: None)
    tr = m.transport = Transport(src, playing=False)
    events = {3: Transport.play, **(events or {})}
    heard = np.zeros((2, blocks * BLOCK), np.float32)
    for i in range(blocks):
        if i in events:
            events[i](tr)
        blk = tr.read(BLOCK)
        m.process_block(blk, heard[:, i * BLOCK:(i + 1) * BLOCK])
    return heard


def test_played_regions_equal_bounce_with_edits_bit_for_bit_through_the_loops_wrap(tmp_path):
    """Paused, regions set, then play: the chain restarts with the song, so what is heard after
    the latency is ``bounce --edits`` of the same regions, sample for sample; and the loop's
    wrap (here inside a block) does not stop the chain: two and a half passes heard are
    ``bounce --edits`` of the song three times over, its regions in each pass. Seamless."""
    from panslice.plugin.formats import edits
    from panslice.plugin.offline import bounce
    from panslice.plugin.studio import regions as R

    n = 80 * BLOCK + 300
    x = noise(n, seed=7).astype(np.float32)
    chain = Chain([Stage(PARAMS)]).prepare(SR, BLOCK)
    rows = edits.rows(R.check([dict(REGION)]))
    blocks = 3 + 5 * n // (2 * BLOCK)
    m = mon.Monitor(chain)
    m.set_edits(rows)
    heard = play_song(tmp_path, x, m, blocks)
    lat = chain.latency_samples
    heard = heard[:, 3 * BLOCK + lat:]
    passes = [rows.copy() for _ in range(3)]
    for k, p in enumerate(passes):
        p[:, :2] += k * n / SR
    want = bounce.render(np.tile(x, 3), SR, Engine(PARAMS).params, edits=np.concatenate(passes))
    np.testing.assert_array_equal(heard, want[:, :heard.shape[1]])
    plain = bounce.render(np.tile(x, 3), SR, Engine(PARAMS).params)
    for k in range(3):  # the region did something in every pass heard
        at = slice(int((k * n / SR + 0.3) * SR), int((k * n / SR + 0.5) * SR))
        if at.stop < heard.shape[1]:
            assert not np.array_equal(want[:, at], plain[:, at])


def test_a_seek_while_playing_keeps_the_chain_running(tmp_path):
    """A seek while playing does not restart the chain: the old place plays out for the
    latency and the new place follows, as one stream spliced at the seek would (no gap of
    silence); the regions of each place apply to it."""
    from panslice.plugin.formats import edits
    from panslice.plugin.studio import regions as R

    n = 60 * BLOCK
    x = noise(n, seed=11).astype(np.float32)
    rows = edits.rows(R.check([dict(REGION)]))
    at, to = 20, int(0.5 * SR)   # at block 20 (0.23 s into the song), seek to 0.5 s
    m = mon.Monitor(Chain([Stage(PARAMS)]).prepare(SR, BLOCK))
    m.set_edits(rows)
    heard = play_song(tmp_path, x, m, 40, events={at: lambda tr: tr.seek(to / SR)})[:, 3 * BLOCK:]
    played = (at - 3) * BLOCK
    spliced = np.concatenate([x[:, :played], np.tile(x, 2)[:, to:to + (40 - at) * BLOCK]], axis=1)
    # the same regions on one clock: the old place's until the seek, the new place's after it
    ref = Chain([Stage(PARAMS)]).prepare(SR, BLOCK)
    ref.stages[0].engine.set_edits(np.concatenate([R.engine_rows(rows, 0, n, SR, until=played),
                                                   R.engine_rows(rows, played - to, n, SR, since=played)]))
    np.testing.assert_array_equal(heard, run_blocks(ref, spliced))
    splice = played + m.latency_samples  # where the output goes from the old place to the new
    rms = np.sqrt(np.mean(heard[:, m.latency_samples:] ** 2))
    assert np.sqrt(np.mean(heard[:, splice - 512:splice + 512] ** 2)) > 0.5 * rms  # no gap


@pytest.mark.slow
def test_bounce_from_the_page_equals_the_command_it_shows(session, tmp_path):
    """Regions painted and a knob moved on the page, then 'bounce' (mix and stems): each file is
    byte for byte what the page's command writes, and the page wrote only to its output folder."""
    import os
    import shlex
    import subprocess
    import sys

    studio, ctl = session
    url = f"ws://127.0.0.1:{studio.server.port}/ws"
    for stems in (False, True):
        got = asyncio.run(asyncio.wait_for(_ws_exchange(url, [
            {"t": "set", "name": "width", "value": 0.35}, {"t": "regions", "regions": [REGION]},
            {"t": "bounce", "stems": stems}], lambda ms: any("wrote" in m or "error" in m for m in ms)), 60))
        started = next(m for m in got if m["t"] == "bounce" and "command" in m)
        done = next(m for m in got if "wrote" in m or "error" in m)
        assert "wrote" in done, done
        assert any(0 < m.get("done", 0) < 1 for m in got if m["t"] == "bounce")  # progress was told
        assert "--edits" in started["command"] and "--set width=0.35" in started["command"]
        page_bytes = {p: open(p, "rb").read() for p in done["wrote"]}
        for p in page_bytes:
            assert os.path.dirname(os.path.dirname(p) if stems else p).startswith(str(tmp_path))
            os.remove(p)
        words = shlex.split(started["command"])
        assert words[:2] == ["panslice", "bounce"]
        subprocess.run([sys.executable, "-m", "panslice.plugin.cli", *words[1:], "--quiet"], check=True,
                       timeout=300)
        for p, b in page_bytes.items():
            assert open(p, "rb").read() == b, p
    assert R_load(tmp_path / "song-edits.toml")[0].name == "crash"


def R_load(path):
    from panslice.plugin.studio import regions as R

    return R.load(path)


@pytest.mark.slow
def test_bounce_chain_with_edits_is_the_page_bounce_and_the_plain_bounce(home, tmp_path):
    """A studio on a one-stage chain: its page's bounce is what its command (bounce --chain
    --edits) writes, and that is bounce --edits without the chain; stems are refused."""
    import shlex
    import subprocess
    import sys

    from panslice.plugin.formats import edits
    from panslice.plugin.studio import regions as R
    from panslice.plugin.studio.bouncer import Bouncer, command

    sf.write(str(tmp_path / "song.wav"), noise(SR, seed=9).T, SR, subtype="FLOAT")
    (tmp_path / "one.toml").write_text('[[step]]\nplugin = "panslice"\n')
    regs = R.check([dict(REGION)])
    R.save(tmp_path / "e.toml", regs)
    from panslice.plugin.formats import presets

    state = {**presets.load("vocal-lift").params.as_dict(), "width": 0.35}
    told = []
    b = Bouncer(tmp_path / "song.wav", tmp_path / "out", None, told.append, chain=str(tmp_path / "one.toml"))
    with pytest.raises(Exception, match="a chain has one output"):
        b.start(state, "vocal-lift", edits.rows(regs), stems=True)
    out = b.start(state, "vocal-lift", edits.rows(regs), stems=False)
    b.thread.join()
    assert "wrote" in told[-1], told[-1]
    page = out.read_bytes()
    cmd = command(str(tmp_path / "song.wav"), state, "vocal-lift", str(tmp_path / "one.toml"),
                  edits=tmp_path / "e.toml", out_dir=tmp_path / "out")
    cli = [sys.executable, "-m", "panslice.plugin.cli"]
    subprocess.run([*cli, *shlex.split(cmd)[1:], "--quiet"], check=True, timeout=300)
    assert out.read_bytes() == page
    plain = tmp_path / "plain.wav"
    subprocess.run([*cli, "bounce", str(tmp_path / "song.wav"), "--preset", "vocal-lift", "--set", "width=0.35",
                    "--edits", str(tmp_path / "e.toml"), "-o", str(plain), "--quiet"], check=True, timeout=300)
    a, _ = sf.read(str(out), dtype="float32")
    np.testing.assert_array_equal(a, sf.read(str(plain), dtype="float32")[0])
