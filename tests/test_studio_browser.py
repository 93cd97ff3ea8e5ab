"""The studio page in a real headless Chromium (selenium + Debian's chromium-driver): a knob
dragged reaches OSC, an OSC change moves the knob, "slice alone" plays the slice, and a
screenshot is kept as an artefact (tests/artefacts/studio.png) for a person to look at."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REAL_TRACKS, ROOT, noise, pan
from panslice.dsp.engine import Engine

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver") and shutil.which("oscsend")),
    reason="chromium, chromium-driver and liblo-tools are not installed; .ci/run installs them")]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTEFACTS = ROOT / "tests" / "artefacts"
SR = 44100
WAIT = 30.0


def song(tmp_path: Path) -> Path:
    """A short song: a real one where the test music is present, else panned tones in noise."""
    if REAL_TRACKS:
        real = [t for t in REAL_TRACKS if "80s_Rock" in str(t)] or REAL_TRACKS
        return Path(real[0]) / "mixture.wav" if Path(real[0]).is_dir() else Path(real[0])
    t = np.arange(3 * SR) / SR
    x = pan(0.3 * np.sin(2 * np.pi * 440 * t), 0.0) + pan(0.2 * np.sin(2 * np.pi * 3000 * t), -0.6)
    sf.write(str(tmp_path / "song.wav"), (x + noise(x.shape[1])).T.astype(np.float32), SR)
    return tmp_path / "song.wav"


class Studio:
    """``panslice studio`` in a subprocess; its URL and OSC port read from what it prints."""

    def __init__(self, home: Path, *args: str, command: tuple[str, ...] = ("studio",)):
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "PYTHONUNBUFFERED": "1"}
        if command == ("studio",) and "--out-dir" not in map(str, args):
            args = (*args, "--out-dir", home / "studio-out")   # never beside a shared song
        self.proc = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", *command, *map(str, args),
                                      "--output", "none", "--osc-port", "0", "--web-port", "0"],
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        while not any("studio on" in ln for ln in self.lines):
            line = self.proc.stderr.readline()
            assert line, "panslice studio ended early:\n" + "".join(self.lines)
            self.lines.append(line)
        text = "".join(self.lines)
        self.osc_port = int(re.search(r"udp://127\.0\.0\.1:(\d+)", text).group(1))
        self.url = re.search(r"studio on (http://\S+)", text).group(1)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        rest = self.proc.communicate(timeout=60)[1]
        return "".join(self.lines) + rest


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=webdriver.ChromeService(shutil.which("chromedriver")))
    yield drv
    drv.quit()


def js(drv, expr: str):
    return drv.execute_script(f"return {expr};")


def open_page(drv, url: str) -> None:
    drv.get(url)
    WebDriverWait(drv, WAIT).until(lambda d: js(d, "window.studio && studio.connected && "
                                                   "Object.keys(studio.state).length > 0"))


def osc_get(port: int, name: str) -> float:
    """``/panslice/get`` answered to oscdump; the value of ``name`` in what it printed. The get
    is sent again each second until the answer comes: one sent before oscdump listens is lost,
    and a read that waits for it would wait for ever."""
    import select
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        back = s.getsockname()[1]
    dump = subprocess.Popen(["oscdump", "-L", str(back)], stdout=subprocess.PIPE)
    fd, seen = dump.stdout.fileno(), b""
    try:
        want = f"/panslice/{name.replace('.', '/')} f "
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            subprocess.run(["oscsend", "127.0.0.1", str(port), "/panslice/get", "i", str(back)],
                           check=True, timeout=10)
            end = time.monotonic() + 1.0
            while (left := end - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                assert chunk, "oscdump ended"
                seen += chunk
                for line in seen.decode(errors="replace").splitlines():
                    if want in line:
                        return float(line.split(want)[1].split()[0])
        raise AssertionError(f"no {want} from /panslice/get")
    finally:
        dump.kill()
        dump.wait()


def test_knob_drag_reaches_osc_and_osc_moves_the_knob(browser, home, tmp_path):
    st = Studio(home, song(tmp_path), "--output-file", tmp_path / "heard.wav")
    try:
        t0 = time.monotonic()
        open_page(browser, st.url)
        load_s = time.monotonic() - t0
        knob = browser.find_element(By.CSS_SELECTOR, '.knob[data-name="width"]')
        before = float(knob.get_attribute("data-value"))
        ActionChains(browser).click_and_hold(knob).move_by_offset(0, -15).move_by_offset(0, -15) \
            .release().perform()
        shown = float(knob.get_attribute("data-value"))
        assert shown > before
        deadline = time.monotonic() + WAIT
        while (got := osc_get(st.osc_port, "width")) != pytest.approx(shown, abs=1e-6):
            assert time.monotonic() < deadline, f"OSC says width={got}, the page {shown}"

        subprocess.run(["oscsend", "127.0.0.1", str(st.osc_port), "/panslice/center", "f", "-0.5"],
                       check=True, timeout=10)
        WebDriverWait(browser, WAIT).until(lambda d: float(
            d.find_element(By.CSS_SELECTOR, '.knob[data-name="center"]').get_attribute("data-value")) == -0.5)

        frames0, t1 = js(browser, "studio.frames"), time.monotonic()
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.frames") >= frames0 + 40)
        fps = (js(browser, "studio.frames") - frames0) / (time.monotonic() - t1)
        ARTEFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTEFACTS / "studio.png"))
        print(f"\nstudio: page ready in {load_s:.2f} s, panogram at {fps:.1f} frames/s")
    finally:
        log = st.stop()
    assert "requests refused" in log


def test_slice_alone_plays_the_slice(browser, home, tmp_path):
    x = noise(2 * SR, seed=4) + pan(0.3 * np.sin(2 * np.pi * 330 * np.arange(2 * SR) / SR), 0.2)
    sf.write(str(tmp_path / "in.wav"), x.T.astype(np.float32), SR, subtype="FLOAT")
    params = ["--preset", "vocal-lift", "--set", "center=0.2", "--set", "width=0.15"]
    out = tmp_path / "heard.wav"
    st = Studio(home, tmp_path / "in.wav", *params, "--paused", "--output-file", out, "--bit-depth", "32")
    try:
        open_page(browser, st.url)
        browser.find_element(By.CSS_SELECTOR, '#monitor button[data-mode="slice"]').click()
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.monitor") == "slice")
        browser.find_element(By.ID, "play").click()
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.transport.playing"))
        WebDriverWait(browser, WAIT).until(  # the audio thread has taken the 'play': ask until it says so
            lambda d: d.execute_script("send({t: 'get'}); return studio.transport.started_at") is not None)
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.transport.seconds") > 1.8)
        started = js(browser, "studio.transport.started_at")
    finally:
        st.stop()
    heard, _ = sf.read(str(out), dtype="float32", always_2d=True)
    # slice alone plays the slice at unity, whatever vocal-lift's +6 dB says
    eng = Engine({"center": 0.2, "width": 0.15, "target_gain_db": 0.0, "band_count": 1,
                  "band.1.low_hz": 150, "band.1.high_hz": 12000}).prepare(SR, 512)
    # 'play' after a pause restarts the chain with the song; the loop's wrap does not (seamless)
    looped = np.tile(x, 3).astype(np.float32)
    want = np.concatenate([np.zeros((2, started), np.float32), eng.process_split(looped)[0]], axis=1)
    n = min(heard.shape[0], want.shape[1])
    want = want[:, :n]
    np.testing.assert_array_equal(heard[:n].T, want)  # bit for bit: one kernel, any blocks
    assert np.abs(want[:, started:]).max() > 0.05  # there was a slice to hear


def draw_box(drv, canvas_id: str, fx0: float, fy0: float, fx1: float, fy1: float) -> None:
    """Drag on a canvas from one point to another, given as fractions of its size."""
    el = drv.find_element(By.ID, canvas_id)
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    w, h = el.size["width"], el.size["height"]
    ActionChains(drv).move_to_element_with_offset(el, int((fx0 - 0.5) * w), int((fy0 - 0.5) * h)) \
        .click_and_hold().move_by_offset(int((fx1 - fx0) * w / 2), int((fy1 - fy0) * h / 2)) \
        .move_by_offset(int((fx1 - fx0) * w / 2), int((fy1 - fy0) * h / 2)).release().perform()


def test_painted_region_is_saved_and_bounce_edits_equals_what_was_heard(browser, home, tmp_path):
    from panslice.plugin.studio import regions as R

    n = 172 * 512  # 2 s
    t = np.arange(n) / SR
    x = noise(n, seed=3) + pan(0.3 * np.sin(2 * np.pi * 5000 * t), 0.0)
    sf.write(str(tmp_path / "in.wav"), x.T.astype(np.float32), SR, subtype="FLOAT")
    out, toml = tmp_path / "heard.wav", tmp_path / "studio-out" / "in-edits.toml"
    st = Studio(home, tmp_path / "in.wav", "--paused", "--output-file", out, "--bit-depth", "32",
                "--out-dir", tmp_path / "studio-out")
    lat = int(re.search(r"latency (\d+) samples", "".join(st.lines)).group(1))
    try:
        open_page(browser, st.url)
        draw_box(browser, "tv", 0.3, 0.15, 0.6, 0.45)  # the 5 kHz tone's middle
        WebDriverWait(browser, WAIT).until(lambda d: len(R.load(toml)) == 1 if toml.exists() else False)
        browser.find_element(By.ID, "play").click()
        WebDriverWait(browser, WAIT).until(
            lambda d: d.execute_script("send({t: 'get'}); return studio.transport.started_at") is not None)
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.transport.seconds") > 1.6)
        started = js(browser, "studio.transport.started_at")
        browser.save_screenshot(str(ARTEFACTS / "studio-regions.png"))
    finally:
        st.stop()
    region = R.load(toml)[0]
    assert 0.4 < region.start < region.end < 1.6 and region.target_gain_db == -np.inf
    bounced = tmp_path / "bounced.wav"
    subprocess.run([sys.executable, "-m", "panslice.plugin.cli", "bounce", str(tmp_path / "in.wav"),
                    "--preset", "vocal-lift", "--edits", str(toml), "--bit-depth", "32", "-o", str(bounced),
                    "--quiet"], check=True, timeout=300)
    heard = sf.read(str(out), dtype="float32", always_2d=True)[0].T[:, started + lat:]
    want = sf.read(str(bounced), dtype="float32", always_2d=True)[0].T
    k = min(heard.shape[1], n - lat)
    assert k > region.end * SR
    np.testing.assert_array_equal(heard[:, :k], want[:, :k])


def test_two_tabs_stay_in_sync_and_undo_reaches_both(browser, home, tmp_path):
    from selenium.webdriver.common.keys import Keys

    st = Studio(home, song(tmp_path), "--paused", "--output-file", tmp_path / "heard.wav")
    try:
        open_page(browser, st.url)
        first = browser.current_window_handle
        browser.switch_to.new_window("window")
        open_page(browser, st.url)
        second = browser.current_window_handle
        browser.switch_to.window(first)
        knob = browser.find_element(By.CSS_SELECTOR, '.knob[data-name="width"]')
        before = float(knob.get_attribute("data-value"))
        ActionChains(browser).click_and_hold(knob).move_by_offset(0, -20).move_by_offset(0, -20).release().perform()
        moved = float(knob.get_attribute("data-value"))
        draw_box(browser, "tv", 0.2, 0.2, 0.5, 0.5)
        browser.switch_to.window(second)
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.regions.length") == 1
                                           and js(d, "studio.state.width") == moved)
        browser.switch_to.window(first)
        ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()  # the region
        ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()  # the knob
        browser.switch_to.window(second)
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.regions.length") == 0
                                           and js(d, "studio.state.width") == before)
        browser.switch_to.window(first)
        ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("z") \
            .key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
        browser.switch_to.window(second)
        WebDriverWait(browser, WAIT).until(lambda d: js(d, "studio.state.width") == moved)
        browser.close()
        browser.switch_to.window(first)
    finally:
        st.stop()


def test_live_input_scrolls_a_spectrogram(browser, home, tmp_path):
    """``live --web`` has no song to paint on: the time view is the live spectrogram instead."""
    st = Studio(home, "--input-file", song(tmp_path), "--loop", "--output-file", tmp_path / "heard.wav",
                command=("live", "--web"))
    try:
        open_page(browser, st.url)
        assert js(browser, "document.getElementById('time-view').hidden")
        assert not js(browser, "document.getElementById('live-view').hidden")
        assert js(browser, "document.querySelector('#steps .song-only').hidden")  # no painting, no bounce
        lit = ("(() => { const o = LiveTV.off, d = o.getContext('2d').getImageData(o.width - 40, 0, 40,"
               " o.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] + d[i + 1]"
               " + d[i + 2] > 60; return n; })()")
        WebDriverWait(browser, WAIT).until(lambda d: js(d, lit) > 40 * js(d, "LiveTV.rows") // 4)
        browser.execute_script("document.getElementById('live-view').scrollIntoView()")
        ARTEFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTEFACTS / "studio-live.png"))
    finally:
        log = st.stop()
    assert "pictures made" in log
