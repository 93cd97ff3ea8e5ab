"""The studio page's cost to the audio: live block times with the page open and a knob dragged.

    python3 benchmarks/studio.py [--seconds 30] [--rounds 2] [--loads 5] [--no-write]

Runs, in this process, what ``panslice studio SONG`` runs (the looping song at real-time pace,
preset vocal-lift, blocks of 512, no output device, the OSC server, ``realtime=True`` as the
command asks) and times every block (the control changes applied, then the chain) with the
loop's own clock. Three kinds of session, interleaved ``--rounds`` times so that the machine's
load falls on each alike:

- *quiet*: no page, no knob moves;
- *OSC*: no page; the ``width`` knob moved over OSC at 60 changes a second (what a controller's
  fader sends): the same control path as the page's, without the page;
- *page*: the studio page open in headless Chromium (Debian's chromium + chromedriver, as the
  browser tests use) and its ``width`` knob dragged by the mouse without a pause (selenium's
  pointer moves, 60 a second), the page sending a change per animation frame.

The figures: block time median, p99, p99.9 and max (ms, and p99.9 as a share of the block's
11.6 ms), their ratio page / OSC (the target is 1.2 or less), the panogram's frames a second as
drawn by the page, and the page's load time (navigation start to the page showing its knobs
and first state, a fresh load each time). Chromium runs on this machine too: its rendering
competes with the audio for the cores, as it would on a person's laptop. Writes its section
of RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

import _common  # noqa: E402  (first: the repo root on sys.path)
from benchmarks.osc_flood import excerpt  # noqa: E402

BLOCK = 512
PRESET = "vocal-lift"
MOVES_PER_S = 60.0
MOVE_MS = 5  # a pointer move in selenium: with its own overhead, about 60 moves a second
WARMUP_S = 2.0


class Timed:
    """The chain as the loop sees it, each block's time (control changes + chain) recorded."""

    def __init__(self, chain, controls, capacity: int):
        self.chain, self.controls = chain, controls
        self.times = np.zeros(capacity)
        self.n = 0
        self._t0 = 0.0

    def __getattr__(self, name):
        return getattr(self.chain, name)

    def on_block(self, pos: int) -> None:
        self._t0 = time.perf_counter()
        self.controls.on_block(pos)

    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        self.chain.process_block(x, out)
        if self.n < self.times.size:
            self.times[self.n] = time.perf_counter() - self._t0
            self.n += 1


def osc_mover(port: int, stop: threading.Event) -> threading.Thread:
    """A thread moving ``width`` over OSC, a triangle 0.1 .. 0.5, 60 changes a second."""
    from pythonosc.udp_client import SimpleUDPClient

    def run() -> None:
        c, i = SimpleUDPClient("127.0.0.1", port), 0
        while not stop.wait(1.0 / MOVES_PER_S):
            c.send_message("/panslice/width", 0.1 + 0.4 * abs((i % 80) - 40) / 40.0)
            i += 1
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def browser():
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='panslice-bench-chromium-')}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(shutil.which("chromedriver")))


def page_ready(drv) -> bool:
    return drv.execute_script("return !!(window.studio && studio.connected && "
                              "Object.keys(studio.state).length > 0 && "
                              "document.querySelector('.knob[data-name=\"width\"]'))")


def load_page(drv, url: str) -> float:
    """One fresh load: seconds from navigation start to the knobs and state shown."""
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get("about:blank")
    drv.get(url)
    WebDriverWait(drv, 30, poll_frequency=0.005).until(page_ready)
    return drv.execute_script("return performance.now()") / 1000.0


def drag_knob(drv, seconds: float) -> tuple[int, float]:
    """Drag ``width`` up and down without a pause for ``seconds``; (frames drawn, seconds)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    knob = drv.find_element(By.CSS_SELECTOR, '.knob[data-name="width"]')
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", knob)
    f0, t0 = drv.execute_script("return studio.frames"), time.monotonic()
    while time.monotonic() - t0 < seconds:  # one second's gesture at a time, up then down
        act = ActionChains(drv, duration=MOVE_MS).click_and_hold(knob)
        for i in range(int(MOVES_PER_S)):
            act.move_by_offset(0, -1 if i < MOVES_PER_S / 2 else 1)
        act.release().perform()
    return drv.execute_script("return studio.frames") - f0, time.monotonic() - t0


def session(song: Path, seconds: float, kind: str, drv=None, loads: int = 0) -> dict:
    """One live session of ``kind`` (quiet, osc, page): the block times from when the knob
    starts moving (after a warm-up), and, with the page, its load times and frames drawn."""
    from panslice.plugin.control.session import ControlSession
    from panslice.plugin.formats import presets
    from panslice.plugin.graph.chain import Chain
    from panslice.plugin.graph.stage import Stage
    from panslice.plugin.live import loop as live
    from panslice.plugin.studio.session import StudioSession

    chain = Chain([Stage(presets.load(PRESET).params)])
    stream, block, _ = live.open_stream(BLOCK, input_file=str(song), loop=True, output_device="none",
                                        output_file=str(song.with_name("heard.wav")),
                                        overwrite=True)  # each session's scratch take
    chain.prepare(stream.sample_rate, block)
    stop, seen = threading.Event(), {"loads": []}
    with ControlSession(chain, stream.sample_rate, port=0) as ctl:
        studio = StudioSession(chain, stream, ctl, port=0, song=str(song), preset=PRESET) \
            if kind == "page" else None
        with studio if studio else nullcontext():
            timed = Timed(studio.chain if studio else chain, ctl.controls,
                          int((seconds + 120) * stream.sample_rate / block))
            loop = threading.Thread(target=lambda: seen.update(
                report=live.run(timed, stream, block, controls=timed, stop=stop, realtime=True)))
            loop.start()
            time.sleep(WARMUP_S)
            if kind == "page":
                seen["loads"] = [load_page(drv, studio.url) for _ in range(max(loads, 1))]
            first, changes = timed.n, []
            ctl.server.hub.listeners.append(lambda name, value: changes.append(name))
            if kind == "page":
                seen["frames"], seen["drag_s"] = drag_knob(drv, seconds)
            else:
                mover = osc_mover(ctl.server.port, stop) if kind == "osc" else None
                time.sleep(seconds)
            last = timed.n
            seen["changes_s"] = len(changes) / seconds if kind != "page" else len(changes) / seen["drag_s"]
            stop.set()
            loop.join()
            if kind == "page":
                drv.get("about:blank")
                seen["sent"] = studio.server.frames_sent
            elif mover is not None:
                mover.join()
    stream.close(commit=False)
    seen["times"] = timed.times[first:last].copy()
    seen["period"] = block / stream.sample_rate
    return seen


def stats(times: np.ndarray) -> dict:
    ms = 1000.0 * times
    return {"median": float(np.median(ms)), "p99": float(np.percentile(ms, 99)),
            "p999": float(np.percentile(ms, 99.9)), "max": float(ms.max()), "blocks": ms.size}


def table(runs: list[tuple[str, dict]]) -> list[str]:
    lines = ["| session | blocks | median ms | p99 ms | p99.9 ms (share of the block) | max ms "
             "| late blocks | knob changes/s | panogram frames/s (drawn by the page) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in runs:
        s, per = stats(r["times"]), 1000.0 * r["period"]
        fps = f"{r['frames'] / r['drag_s']:.1f}" if "frames" in r else ""
        lines.append(f"| {kind} | {s['blocks']} | {s['median']:.3f} | {s['p99']:.3f} | "
                     f"{s['p999']:.3f} ({100 * s['p999'] / per:.0f}%) | {s['max']:.2f} | "
                     f"{r['report'].late} | {r['changes_s']:.0f} | {fps} |")
    return lines


def summary(runs: list[tuple[str, dict]], loads: list[float], seconds: float, name: str) -> str:
    def pooled(kind: str) -> dict:
        return stats(np.concatenate([r["times"] for k, r in runs if k == kind]))
    quiet, osc, page = pooled("quiet"), pooled("osc"), pooled("page")
    fps = [r["frames"] / r["drag_s"] for k, r in runs if k == "page"]
    each = [stats(p["times"])["p999"] / stats(o["times"])["p999"]
            for (_, o), (_, p) in zip([x for x in runs if x[0] == "osc"], [x for x in runs if x[0] == "page"])]
    sched = runs[0][1]["report"].scheduling or "normal scheduling"
    lines = [f"`benchmarks/studio.py`: {seconds:g} s sessions of the looping song ({name}), preset "
             f"{PRESET}, blocks of {BLOCK} at 44.1 kHz (11.6 ms), no output device, audio thread: "
             f"{sched}; the three kinds interleaved {len(fps)} times. {_common.machine()}, shared "
             f"with other jobs: load average {_common.load():.1f} at the end.", "",
             f"- **p99.9 block time, page open and a knob dragged / the same session without the "
             f"page (knob moved over OSC)**: {page['p999']:.3f} / {osc['p999']:.3f} ms = "
             f"**{page['p999'] / osc['p999']:.2f}x** (target <= 1.2x); against the quiet session "
             f"({quiet['p999']:.3f} ms): {page['p999'] / quiet['p999']:.2f}x. Round by round, page / "
             f"OSC: {', '.join(f'{e:.2f}x' for e in each)}. Medians "
             f"{page['median']:.3f} / {osc['median']:.3f} / {quiet['median']:.3f} ms.",
             f"- **panogram frames a second drawn by the page** while the knob is dragged: "
             f"{', '.join(f'{f:.1f}' for f in fps)} (target >= 20; the server makes 30).",
             f"- **page load** (navigation start to knobs and state shown, fresh loads): median "
             f"{1000 * np.median(loads):.0f} ms, max {1000 * max(loads):.0f} ms over {len(loads)} "
             "(target < 1 s).", "", "Each session:", ""]
    return "\n".join(lines + table(runs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="knob moving, per session (default 30)")
    ap.add_argument("--rounds", type=int, default=2, help="times each kind of session runs (default 2)")
    ap.add_argument("--loads", type=int, default=5, help="fresh page loads timed (default 5)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("benchmarks/studio.py needs chromium and chromium-driver (.ci/run installs them)",
              file=sys.stderr)
        return 1
    drv = browser()
    runs, loads = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            song, name = excerpt(20.0, Path(tmp))
            for r in range(args.rounds):
                for kind in ("quiet", "osc", "page"):
                    res = session(song, args.seconds, kind, drv, loads=args.loads if r == 0 else 1)
                    loads += res["loads"]
                    runs.append((kind, res))
                    print(table([(kind, res)])[-1], flush=True)
    finally:
        drv.quit()
    body = summary(runs, loads, args.seconds, name)
    _common.publish("studio", body, not args.no_write, "## Studio: the page's cost to the audio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
