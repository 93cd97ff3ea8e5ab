"""The ML prior live: Spleeter in a worker thread, the audio path delayed by a look-ahead.

Spleeter needs a whole patch of audio (64 to 512 frames: 1.5 to 11.9 s) before it can say
anything about it, so live the engine hears the input ``lookahead`` samples late: long enough
that the patch holding a frame's prior row has arrived, been computed and been handed over
before the engine reaches that frame. The look-ahead is latency and is reported as such
(``latency_samples`` = the stage's own + the look-ahead).

The audio thread never waits for the network: it copies each block into a ring the worker
reads, and between blocks installs the newest rows the worker has published (a reference
swap). A frame whose row is not there when it is due (the network too slow) gets the plain
azimuth slice (the engine's rule for frames without rows) and is counted in ``missed``.
Rows come from :class:`~.prior.PatchStream` and :class:`~.prior.RowWindow`, as in a bounce,
so with every row in time the output is the bounce's output with the same patch size,
``latency_samples`` late. Offline (a chain's bounce) the same stage runs without the worker:
each block computes the patches its input completes before it is processed.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from ...dsp import spleeter as S
from .prior import Patcher, PatchStream, RowWindow, network
from ..graph.ring import Ring
from ..graph.stage import Stage

LIVE_PATCH = 128          # frames per live patch (3.0 s); see benchmarks/ml_live.py for the cost
HEADROOM = 0.5            # time the network gets per patch, as a fraction of the patch's length
POLL_S = 0.005            # the worker's wait for more input


def lookahead(patcher: Patcher, block: int, headroom: float = HEADROOM) -> int:
    """Look-ahead in samples (a whole number of hops) for ``patcher`` in a loop of ``block``:
    how far past a frame's end its patch reads, at worst, plus two blocks (the block that
    completes the patch and the one that installs its rows) and the network's ``headroom``."""
    hop, n = patcher.hop, patcher.fft_size
    reach = 0
    for k in range(patcher.up + 1):   # one period of the two grids (44.1 kHz * up = rate * down)
        f0 = patcher.first_frame(k)
        reach = max(reach, patcher.span(k)[1] - ((f0 + 1) * hop))
    seconds = headroom * patcher.patch * S.HOP / S.SAMPLE_RATE
    need = reach + 2 * block + math.ceil(seconds * patcher.sr)
    return -(-max(need, n) // hop) * hop


class PriorStage(Stage):
    """A :class:`Stage` whose ML prior is computed live, ``lookahead`` samples ahead.

    ``patch`` is the Spleeter patch in frames (a multiple of 64); ``net`` the network (default:
    the installed model, loaded once per process). ``offline`` (a chain's bounce): no worker;
    each block computes, before it is processed, every patch its input completes, so every row
    is in time however fast the blocks come, and the output is the live output of a machine
    fast enough for the network.
    """

    def __init__(self, params=None, *, target=None, rest=None, name: str = "panslice",
                 patch: int = LIVE_PATCH, net=None, offline: bool = False):
        super().__init__(params, target=target, rest=rest, name=name)
        self.patch = patch
        self.offline = offline
        self.net = net if net is not None else network()
        self.lookahead = 0
        self.missed = 0          # frames processed without their row (the network was late)
        self.overflow = False    # the worker fell so far behind that its input ring filled
        self._worker: threading.Thread | None = None

    @classmethod
    def from_stage(cls, stage: Stage, patch: int = LIVE_PATCH, net=None,
                   offline: bool = False) -> "PriorStage":
        return cls(stage.params, target=stage.target, rest=stage.rest, name=stage.name,
                   patch=patch, net=net, offline=offline)

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int) -> "PriorStage":
        self._stop_worker()
        super().prepare(sample_rate, max_block)
        eng = self.engine
        self.lookahead = lookahead(self._new_patcher(), max_block)
        self._shift = self.lookahead // eng.hop   # engine frame = input frame + shift
        self._delay = Ring(self.lookahead + max_block, prefill=self.lookahead)
        self._delayed = np.zeros((2, max_block), np.float32)
        self._feed = None if self.offline else Ring(2 * self.lookahead + 4 * max_block)
        self._start()
        return self

    @property
    def latency_samples(self) -> int:
        """The stage's latency plus the ML look-ahead."""
        return super().latency_samples + self.lookahead

    def reset(self) -> None:
        """Clear the audio state, the look-ahead and the worker's input (a fresh worker)."""
        self._stop_worker()
        super().reset()
        self.engine.set_prior(np.zeros((0, self.engine.fft_size // 2 + 1), np.float32))
        self._delay.clear()
        if self._feed is not None:
            self._feed.clear()
        self._start()

    def close(self) -> None:
        """Stop the worker (it finishes the patch it is on), and those of the sub-chains."""
        self._stop_worker()
        super().close()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._stop.set()
            self._worker.join()
            self._worker = None

    def _new_patcher(self) -> Patcher:
        """A Patcher from the first patch on (the ML step's memory across patches included)."""
        eng = self.engine
        return Patcher(self.net, eng.fft_size, eng.hop, eng.sample_rate, self.patch, eng.params)

    def _start(self) -> None:
        """Start from the first patch: fresh rows and counts, and a worker unless offline."""
        self._patches = PatchStream(self._new_patcher())
        self._window = RowWindow(self.engine.fft_size // 2 + 1)
        self.missed = 0
        self.overflow = False
        self._pending: tuple[np.ndarray, int] | None = None   # published by the worker
        self._installed: tuple[np.ndarray, int] | None = None
        self._win = (0, 0)        # engine frames [start, end) the installed rows cover
        self.patches, self.compute_s, self.slowest_s = 0, 0.0, 0.0   # the network's timings
        self._fed = 0             # input samples handed to the worker (audio thread)
        self._idle_at = -1        # input the worker last found too short for its next patch
        self.error: Exception | None = None     # what stopped the worker, if anything did
        if not self.offline:
            self._stop = threading.Event()
            self._worker = threading.Thread(target=self._work, name="panslice-ml", daemon=True)
            self._worker.start()

    # -- audio thread ---------------------------------------------------------------------------
    def _process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[1]
        if self.offline:
            self._patches.push(x)
            while self._patches.have >= self._patches.needs():
                self._next_patch()
        elif not self.overflow:
            if self._feed.write(x):
                self._fed += n
            else:
                self.overflow = True                      # the worker stops getting input
        p = self._pending
        if p is not self._installed:
            self.engine.set_prior(p[0], p[1])
            self._installed = p
            self._win = (p[1], p[1] + len(p[0]))
        self._count_missing(n)
        d = self._delayed[:, :n]
        self._delay.write(x)
        self._delay.read(d)
        super()._process_block(d, out)

    def _count_missing(self, n: int) -> None:
        """Count the frames this block completes that have input in them and no row."""
        eng = self.engine
        first = eng.samples_to_next_frame()
        if n < first or eng.params["ml_prior"] <= 0:
            return
        f0 = eng.frames_completed
        f1 = f0 + 1 + (n - first) // eng.hop               # frames f0 .. f1-1 complete now
        lo = max(f0, self._shift)                         # before: the look-ahead's silence
        a, b = self._win
        self.missed += max(0, f1 - max(lo, b)) + max(0, min(f1, a) - lo)

    def _next_patch(self) -> None:
        """Compute the next patch (its input is all here) and publish the rows the engine may
        still need with its rows (on the engine's frames: shifted by the look-ahead)."""
        t = time.perf_counter()
        f0, rows = self._patches.next_rows()
        t = time.perf_counter() - t
        self.patches, self.compute_s = self.patches + 1, self.compute_s + t
        self.slowest_s = max(self.slowest_s, t)
        if len(rows):
            self._window.add(f0 + self._shift, rows, self.engine.frames_processed)
            self._pending = (self._window.rows, self._window.start)

    # -- worker thread --------------------------------------------------------------------------
    def _work(self) -> None:
        # One patch of silence first, while the first real patch's input is still arriving:
        # that one would otherwise also pay for the work arrays, the bias images and the
        # resampler's filter, and come late.
        warm = self._new_patcher()
        lo, hi = warm.span(0)
        try:
            warm.mask(0, np.zeros((2, hi - lo), np.float32))
        except Exception as e:  # noqa: BLE001 -- reported by the session, frames fall back
            self.error = e
            return
        stream = self._patches
        chunk = np.zeros((2, self._feed.capacity), np.float32)
        while not self._stop.is_set():
            need = stream.needs()
            if stream.have < need:  # take the input over only once the patch is complete
                avail = self._feed.available
                if stream.have + avail < need:
                    self._idle_at = stream.have + avail
                    time.sleep(POLL_S)
                    continue
                c = chunk[:, :avail]
                self._feed.read(c)
                stream.push(c)
            try:
                self._next_patch()
            except Exception as e:  # noqa: BLE001 -- reported by the session, frames fall back
                self.error = e
                return

    # -- reports --------------------------------------------------------------------------------
    def describe(self) -> list[str]:
        la, sr = self.lookahead, self.engine.sample_rate
        return [f"ML prior: patches of {self.patch} frames, look-ahead {la} samples "
                f"({la / sr:.2f} s, included in the latency)"]

    def report(self) -> list[str]:
        stopped = [] if self.error is None else [f"warning: the ML prior stopped: {self.error}"]
        return [self.speed()] + stopped

    def speed(self) -> str:
        """How fast the network ran in this session, against the time the look-ahead gives it."""
        if not self.patches:
            return "ML prior: no patch computed"
        dur = self.patch * S.HOP / S.SAMPLE_RATE
        mean = self.compute_s / self.patches
        return (f"ML prior: {self.patches} patches of {dur:.1f} s, {mean:.3f} s each on average "
                f"({dur / mean:.1f}x real time), slowest {self.slowest_s:.3f} s (the look-ahead "
                f"leaves {HEADROOM * dur:.2f} s)")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the worker has used all the input given so far (for tests and tools that
        want every row in time, whatever the machine's speed; the live loop never calls it)."""
        end = time.monotonic() + timeout
        while (self._worker is not None and self._idle_at != self._fed and self.error is None
               and time.monotonic() < end):
            time.sleep(0.001)


def attach(chain, patch: int = LIVE_PATCH, net=None, offline: bool = False) -> list[PriorStage]:
    """Give every panslice stage of ``chain`` that starts with ml_prior > 0 (at the top level,
    in nested chains and in split stages' sub-chains) an ML prior: each becomes a
    :class:`PriorStage` (``offline``: one that waits for its rows, for a bounce). Returns
    them."""
    from ..graph.chain import Chain

    found = []
    for i, s in enumerate(chain.steps):
        if isinstance(s, Chain):
            found += attach(s, patch, net, offline)
            continue
        if not isinstance(s, Stage):
            continue
        for sub in (s.target, s.rest):  # a split stage's sub-chains
            if sub is not None:
                found += attach(sub, patch, net, offline)
        if not isinstance(s, PriorStage) and s.params["ml_prior"] > 0:
            chain.steps[i] = PriorStage.from_stage(s, patch, net if net is not None else network(),
                                                   offline)
            found.append(chain.steps[i])
    return found
