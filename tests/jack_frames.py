"""A JACK player and recorder that speak JACK's frame time, in a child process of their own.

'player' plays, on both of its ports, each sample's own frame; 'recorder' stores each sample it
hears at its own frame. A sample recorded at frame t that carries frame s was delayed t - s,
whatever cycles either client missed: nothing is counted per client. A frame the recorder ran
no cycle for reads NaN (missing), which is not silence (0.0).

A cycle's frames are ``last_frame_time - frames`` onwards: jackd (1.9.21) advances its frame
counter by the new period at the first cycle after ``jack_bufsize`` (measured: a 768-frame gap
at 256 -> 1024, 960 frames counted twice at 1024 -> 64 with ``last_frame_time`` as the start),
so ``last_frame_time`` is where a cycle ends, on one continuous timeline.

Both clients log the frames of every cycle they ran. A client that runs late reads the next
cycle's frame time (two cycles with one label), and one that JACK skips leaves a hole: either
shows in its log as a break, and :func:`breaks` gives the frames around each one, so that what
the server's repair of such a cycle did to the recording is not blamed on the client between.

The child runs nothing but the two callbacks (gc off, arrays allocated up front, its main thread
asleep on stdin), so that on a busy machine the test's own clients miss as few cycles as they
can. It shares its arrays with the test through ``.npy`` files mapped in memory.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np

MAX_PERIOD = 8192              # jack_bufsize's largest
SCALE = 2.0 ** -23             # frame f plays as (f + 1) * SCALE: exact in float32 below 2**24


def _arrays(folder: Path, mode: str, samples: int = 0):
    """tape (what the recorder heard, cycle after cycle), cycles [player, recorder, xruns] x
    (first frame, frames; for an xrun: the frame time when the player heard of it, 0), counts
    (player cycles, recorder cycles, xruns)."""
    from numpy.lib.format import open_memmap

    names = ("tape", "cycles", "counts")
    if mode == "w+":
        shapes = {"tape": (np.float32, (samples,)), "cycles": (np.int64, (3, samples // 32 + 1, 2)),
                  "counts": (np.int64, (3,))}
        return [open_memmap(folder / f"{k}.npy", "w+", *shapes[k]) for k in names]
    return [np.load(folder / f"{k}.npy", mmap_mode=mode) for k in names]


def _child(server: str, folder: str) -> None:
    import jack

    gc.disable()
    tape, cycles, counts = _arrays(Path(folder), "r+")
    player = jack.Client("player", no_start_server=True, servername=server)
    recorder = jack.Client("recorder", no_start_server=True, servername=server)
    outs = [player.outports.register(f"out_{i}") for i in (1, 2)]
    inp = recorder.inports.register("in_1")
    recorder.inports.register("in_2")
    base = player.frame_time - MAX_PERIOD       # before any cycle this session will see
    ramp = ((np.arange(MAX_PERIOD) + 1) * SCALE).astype(np.float32)
    done = [0, 0, 0, 0]                         # player cycles, recorder cycles, xruns, taped
    limit = cycles.shape[1]

    def log(who: int, t: int, frames: int) -> None:
        k = done[who]
        if k < limit:
            cycles[who, k, 0] = t
            cycles[who, k, 1] = frames
            done[who] = counts[who] = k + 1

    def play(frames: int) -> None:
        t = player.last_frame_time - frames - base
        a = outs[0].get_array()
        np.add(ramp[:frames], np.float32(t * SCALE), out=a)
        outs[1].get_array()[:] = a
        log(0, t, frames)

    def record(frames: int) -> None:
        k = done[3]
        if k + frames <= tape.shape[0]:
            tape[k:k + frames] = inp.get_array()
            done[3] = k + frames
            log(1, recorder.last_frame_time - frames - base, frames)

    def xrun(delay: float) -> None:
        log(2, player.frame_time - base, 0)

    player.set_process_callback(play)
    recorder.set_process_callback(record)
    player.set_xrun_callback(xrun)
    player.activate()
    recorder.activate()
    print("ready", flush=True)
    sys.stdin.readline()
    for c in (player, recorder):
        c.deactivate()
        c.close()
    for a in (tape, cycles, counts):
        a.flush()
    print("done", flush=True)


class FramePlayerRecorder:
    """The test's side: starts the child (ports player:out_1/2, recorder:in_1/2), tells how far
    it has recorded, and after :meth:`close` holds what was played and recorded."""

    def __init__(self, server: str, folder: Path, seconds: float, rate: int, env: dict):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        _arrays(self.folder, "w+", int(seconds * rate))
        self.p = subprocess.Popen([sys.executable, __file__, server, str(self.folder)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline()
        assert line.strip() == "ready", line
        self._cycles, self._counts = _arrays(self.folder, "r")[1:]

    def recorded_until(self) -> int:
        """The frame up to which the recorder has run."""
        k = int(self._counts[1])
        return int(self._cycles[1, k - 1].sum()) if k else 0

    def close(self) -> None:
        """Stops the clients; then ``played`` and ``heard`` are their cycles [(first frame,
        frames)], ``frames`` what was heard at each frame, and ``xruns`` the frame times at which
        the player heard of each of the server's xruns."""
        if self.p.poll() is None:
            self.p.stdin.write("\n")
            self.p.stdin.flush()
            assert self.p.stdout.readline().strip() == "done"
        self.p.wait(timeout=30)
        tape, cycles, counts = (np.array(a) for a in _arrays(self.folder, "r"))
        self.played, self.heard = cycles[0, :counts[0]], cycles[1, :counts[1]]
        self.xruns = cycles[2, :counts[2], 0]
        self.frames = np.full(int(self.heard.sum(1).max()), np.nan, np.float32)
        k = 0
        for t, n in self.heard:          # in the order they ran: a late label is overwritten
            self.frames[t:t + n] = tape[k:k + n]
            k += n

    def sources(self) -> np.ndarray:
        """The frame each recorded sample was played at: -1 for silence, -2 where missing."""
        v = np.nan_to_num(self.frames.astype(np.float64), nan=-SCALE)
        return np.round(v / SCALE).astype(np.int64) - 1


def breaks(cycles: np.ndarray) -> list[tuple[int, int]]:
    """[(first, end)] frames around each break in a client's cycles (a label repeated or
    skipped): the two cycles on either side and whatever lies between them."""
    ends = cycles.sum(1)
    at = np.flatnonzero(cycles[1:, 0] != ends[:-1])
    return [(int(min(cycles[i, 0], cycles[i + 1, 0])), int(max(ends[i], ends[i + 1]))) for i in at]


if __name__ == "__main__":
    _child(*sys.argv[1:3])
