"""Soak: a file-driven live session under stress, for minutes or hours (issue 18, item 11).

One panslice stage plays a looped synthetic song at real-time pace (``live --input-file``'s
FileSource and loop), its OSC server on a loopback port, while another thread, as a show's
controllers and a careless operator would:

- moves a random knob to a random value every 50 ms (over UDP);
- loads a random shipped preset every few seconds;
- applies a random hand-edit region, and removes it again, every few seconds;
- subscribes and unsubscribes clients (which receive the meters) as it goes.

Measured per minute: every output sample finite (the count of those that are not), the
process's RSS, the OSC inbox and subscriber counts (no queue may grow), and the 99.9th
percentile of the block processing time. Prints a table and a verdict: RSS flat within 5% after
the warm-up (the first minute), no growing queue, no non-finite sample.

    python3 benchmarks/soak.py --minutes 60 [--block 512] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import _common  # run as a script: puts the repo root on sys.path
except ImportError:  # imported by the tests
    from benchmarks import _common

from panslice.dsp import params as P
from panslice.plugin.control.session import ControlSession
from panslice.plugin.formats import audiofile, edits, presets
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage
from panslice.plugin.live import loop, streams

SR = 44100
SONG_S = 20


@dataclass
class Minute:
    """What one window of the session measured."""

    blocks: int = 0
    nonfinite: int = 0
    rss_mb: float = 0.0
    inbox: int = 0
    subscribers: int = 0
    p999_ms: float = 0.0
    times: list = field(default_factory=list)


class Watched:
    """The chain, timed block by block, its output checked, and hand edits from another thread
    applied between blocks (as the studio's monitor does)."""

    def __init__(self, chain: Chain, window_s: float):
        self.chain, self.window = chain, window_s
        self.minutes: list[Minute] = [Minute()]
        self._t0 = time.monotonic()
        self.new_rows: np.ndarray | None = None

    def __getattr__(self, name):
        return getattr(self.chain, name)

    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        if self.new_rows is not None:
            rows, self.new_rows = self.new_rows, None
            for st in self.chain.stages:
                st.engine.set_edits(rows)
        t = time.perf_counter()
        self.chain.process_block(x, out)
        dt = time.perf_counter() - t
        m = self.minutes[-1]
        m.times.append(dt)
        m.blocks += 1
        if not np.isfinite(out).all():
            m.nonfinite += int((~np.isfinite(out)).sum())
        if time.monotonic() - self._t0 >= self.window * len(self.minutes):
            m.p999_ms = float(np.percentile(m.times, 99.9)) * 1e3
            m.times = []          # the figures of a window only: the soak's memory stays flat
            self.minutes.append(Minute())


class Nowhere:
    """The output (``--output none``): the output is checked in :class:`Watched` instead."""

    overruns = underruns = 0

    def write(self, block: np.ndarray) -> None:
        pass

    def close(self, commit: bool = True) -> None:
        pass


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _osc(addr: str, *args) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)

    tags, data = ",", b""
    for a in args:
        if isinstance(a, str):
            tags, data = tags + "s", data + pad(a.encode())
        elif isinstance(a, int):
            tags, data = tags + "i", data + struct.pack(">i", a)
        else:
            tags, data = tags + "f", data + struct.pack(">f", a)
    return pad(addr.encode()) + pad(tags.encode()) + data


def _knob(rng: random.Random) -> tuple[str, float]:
    live = [p for p in P.REGISTRY if p.live and not p.name.startswith("band.")
            and p.name != "ml_prior"]   # refused above 0 in a session without the ML look-ahead
    p = rng.choice(live)
    if p.choices:
        return p.name, float(rng.choice(p.choices))
    if p.minimum == -np.inf and rng.random() < 0.1:
        return p.name, float("-inf")
    lo = p.minimum if np.isfinite(p.minimum) else -60.0
    v = rng.uniform(lo, p.maximum if np.isfinite(p.maximum) else 12.0)
    return p.name, float(round(v) if p.scale == "int" else v)


def _region(rng: random.Random) -> np.ndarray:
    a = rng.uniform(0, SONG_S - 2)
    text = (f"[[regions]]\nstart = {a:.2f}\nend = {a + rng.uniform(0.2, 2):.2f}\n"
            f"azimuth = [{rng.uniform(-1, 0):.2f}, {rng.uniform(0, 1):.2f}]\n"
            f"target_gain_db = {rng.choice(['-inf', '-12', '6'])}\n")
    return edits.rows(edits.parse(text, "soak"))


def stress(port: int, watched: Watched, stop: threading.Event, seed: int, counts: dict) -> None:
    """The operator: knobs every 50 ms, presets, edits and subscribers every few seconds."""
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    to = ("127.0.0.1", port)
    listeners: list[socket.socket] = []
    names = presets.shipped_names()
    tick = 0
    while not stop.wait(0.05):
        tick += 1
        name, value = _knob(rng)
        sock.sendto(_osc(f"/panslice/{name}", float(value)), to)
        counts["knobs"] += 1
        if tick % 60 == 0:
            sock.sendto(_osc("/panslice/preset/load", rng.choice([n for n in names if "ml" not in n])), to)
            counts["presets"] += 1
        if tick % 40 == 0:
            watched.new_rows = _region(rng) if rng.random() < 0.6 else np.zeros((0, 10))
            counts["edits"] += 1
        if tick % 30 == 0:
            if listeners and rng.random() < 0.5:
                s = listeners.pop(rng.randrange(len(listeners)))
                s.sendto(_osc("/panslice/unsubscribe"), to)
                s.close()
            elif len(listeners) < 4:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
                s.sendto(_osc("/panslice/subscribe"), to)
                listeners.append(s)
            counts["subscriptions"] += 1
        for s in listeners:  # drain the meters
            try:
                while s.recv(2048):
                    pass
            except BlockingIOError:
                pass
    for s in listeners:
        s.close()
    sock.close()


def soak(minutes: float, *, seed: int = 1, block: int = 512, window_s: float = 60.0,
         out=sys.stdout) -> tuple[list[Minute], dict]:
    """Run the session for ``minutes``; returns the per-window figures and the counts."""
    rng = np.random.default_rng(seed)
    t = np.arange(SONG_S * SR) / SR
    voice = 0.4 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 2 * t))
    song = np.stack([voice + 0.2 * rng.standard_normal(t.size), 0.6 * voice + 0.2 * rng.standard_normal(t.size)])
    counts = {"knobs": 0, "presets": 0, "edits": 0, "subscriptions": 0}
    with tempfile.TemporaryDirectory(prefix="panslice-soak-") as d:
        path = Path(d) / "song.wav"
        audiofile.write_stereo(path, song.astype(np.float32), SR, 32)
        chain = Chain([Stage(presets.load("acapella").params.copy())])
        watched = Watched(chain, window_s)
        source = streams.Duplex(streams.FileSource(path, block, loop=True), [Nowhere()])
        stop = threading.Event()
        with ControlSession(chain, SR, port=0) as session:
            server = session.server
            op = threading.Thread(target=stress, args=(server.port, watched, stop, seed, counts), daemon=True)
            op.start()
            timer = threading.Timer(minutes * 60, stop.set)
            timer.start()
            sampler = threading.Thread(target=_sample, args=(watched, session, stop), daemon=True)
            sampler.start()
            rep = loop.run(watched, source, block, controls=session.controls, stop=stop)
            timer.cancel()
            op.join()
            sampler.join()
            counts["osc_messages"] = server.messages
            counts["osc_rejected"] = server.rejected
    counts["report"] = rep.summary()
    last = watched.minutes[-1]
    if last.times:
        last.p999_ms = float(np.percentile(last.times, 99.9)) * 1e3
        last.times = []
    return [m for m in watched.minutes if m.blocks], counts


def _sample(watched: Watched, session, stop: threading.Event) -> None:
    """Every second: the RSS and the queues, the largest seen in the window."""
    while not stop.wait(1.0):
        m = watched.minutes[-1]
        m.rss_mb = max(m.rss_mb, _rss_mb())
        m.inbox = max(m.inbox, len(session.controls._inbox) + session.controls.held)
        m.subscribers = max(m.subscribers, len(session.server.subscribers))


def verdict(ms: list[Minute]) -> list[str]:
    """What went wrong (empty: nothing): non-finite output, RSS growth past 5% after the
    first window, a queue that grows."""
    bad = []
    if any(m.nonfinite for m in ms):
        bad.append(f"{sum(m.nonfinite for m in ms)} non-finite output samples")
    after = [m.rss_mb for m in ms[1:] if m.rss_mb]
    if len(after) >= 2 and max(after) > 1.05 * after[0]:
        bad.append(f"RSS grew from {after[0]:.0f} to {max(after):.0f} MB after the warm-up")
    if max((m.inbox for m in ms), default=0) > 1000:
        bad.append(f"the OSC inbox reached {max(m.inbox for m in ms)} changes")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per row of the table")
    args = ap.parse_args()
    ms, counts = soak(args.minutes, seed=args.seed, block=args.block, window_s=args.window)
    print(f"{'window':>6} {'blocks':>7} {'nonfinite':>9} {'RSS MB':>7} {'inbox':>5} {'subs':>4} {'p99.9 ms':>8}")
    for i, m in enumerate(ms):
        print(f"{i:6d} {m.blocks:7d} {m.nonfinite:9d} {m.rss_mb:7.1f} {m.inbox:5d} {m.subscribers:4d} {m.p999_ms:8.2f}")
    print({k: v for k, v in counts.items() if k != "report"})
    print(counts["report"])
    print(f"({_common.cpu_name()}, load {_common.load():.1f})")
    bad = verdict(ms)
    print("verdict: " + ("; ".join(bad) if bad else "finite, RSS flat within 5% after warm-up, no queue growing"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
