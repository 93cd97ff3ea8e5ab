"""What the studio hears of a chain: the monitor switch, and painted regions on song time.

The monitor plays the mix, the slice alone, the rest alone or the input untouched (bypass)
without touching a stored gain: each panslice stage's engine is wrapped so that, with the slice
or the rest soloed, the engine renders its two outputs (``process_split``) and the other one is
silenced, whatever routing the stage has (gains, or sub-chains: the silenced branch's sub-chain
then gets silence). Soloed, the engine's gains are held at unity (they glide there and back):
a person hears the slice as it is cut (what ``bounce --stems`` writes, to rounding), even in
karaoke where the slice's gain is -inf, while ``params``, the knobs and the command keep the
gains set. The mix takes the engine's own path, so with the monitor on "mix" the audio is what
it would be without the studio. Bypass plays the input delayed by the chain's latency
while the chain keeps running, so switching back is seamless.

Painted regions reach the engines here, between blocks, on the audio thread: the page's
thread hands over new rows with one attribute write (no lock), and the monitor applies them on
the engine's clock (input samples since the chain restarted), where the transport says the song
is (:func:`~.regions.engine_rows`): moved on by one song length at the loop's wrap, and at a
seek the old place's regions kept for what is still in the engine, the new place's from then
on. The chain restarts only at 'play' after a pause (see ``transport.py``).
Nothing here allocates per block, except new region rows (a page's edit, a wrap, a seek).
"""

from __future__ import annotations

import numpy as np

from ..graph.ring import Ring
from .regions import engine_rows

MODES = ("mix", "slice", "rest", "bypass")
MIX, SLICE, REST, BYPASS = range(4)


class SoloEngine:
    """An engine as its stage sees it, with the monitor's solo applied to its outputs."""

    def __init__(self, engine, monitor: "Monitor"):
        self._engine = engine
        self._monitor = monitor
        self._parts = np.zeros((2, 2, max(engine.max_block, 1)), np.float32)
        self._held = False

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def prepare(self, sample_rate: float, max_block: int = 4096):
        self._engine.prepare(sample_rate, max_block)
        self._parts = np.zeros((2, 2, max_block), np.float32)
        return self

    def _solo(self) -> int:
        """The monitor's mode, with the gains held at unity while it solos (between blocks)."""
        mode = self._monitor.mode
        solo = mode in (SLICE, REST)
        if solo != self._held:
            self._held = solo
            self._engine.hold_gains_at_unity(solo)
        return mode

    def reset(self) -> None:
        self._solo()  # the gains jump to where the monitor holds them
        self._engine.reset()

    def process(self, audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        mode = self._solo()
        if mode not in (SLICE, REST) or out is None:
            return self._engine.process(audio, out)
        n = audio.shape[1]
        parts = self._parts[:, :, :n]
        self._engine.process_split(audio, parts)
        out[...] = parts[0 if mode == SLICE else 1]
        return out

    def process_split(self, audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        mode = self._solo()
        out = self._engine.process_split(audio, out)
        if mode == SLICE:
            out[1] = 0.0
        elif mode == REST:
            out[0] = 0.0
        return out


class Monitor:
    """A chain behind the monitor switch, with painted regions placed on the song; runs where
    the chain would.

    ``mode`` (one of :data:`MODES` by index) is a plain attribute: the page's thread writes
    it, the audio thread reads it once per block. Everything else is the chain's own.
    """

    def __init__(self, chain):
        self.chain = chain
        self.mode = MIX
        for st in chain.stages:
            if not isinstance(st.engine, SoloEngine):
                st.engine = SoloEngine(st.engine, self)
        self._delay: Ring | None = None
        self._scratch = np.zeros((2, 1), np.float32)
        self.transport = None          # a file's Transport (studio); None on live input
        self.edit_rows = np.zeros((0, 10))
        self._new_rows: np.ndarray | None = None
        self._clock = 0                # input samples since the chain restarted
        self._origin: int | None = None  # the engine sample where this pass of the song began
        self._before: int | None = None  # ... and the pass before the last seek, until _cut
        self._cut = 0
        if chain.sample_rate:
            self._allocate(chain.sample_rate, chain.max_block)

    def __getattr__(self, name):
        return getattr(self.chain, name)

    def set_mode(self, name: str) -> None:
        self.mode = MODES.index(name)

    def set_edits(self, rows: np.ndarray) -> None:
        """New region rows (song time), applied before the next block (any thread)."""
        self._new_rows = rows

    def _edits_between_blocks(self) -> None:
        tr, rows = self.transport, self._new_rows
        if rows is not None:
            self._new_rows = None
            self.edit_rows = rows
        moved = rows is not None
        if tr is not None:
            if tr.restart:
                tr.restart = False
                self.reset()
            if tr.block_at is not None:
                origin = self._clock - tr.block_at
                if self._origin is None or (origin - self._origin) % tr.length:  # a seek
                    self._before, self._cut = self._origin, self._clock
                moved = moved or origin != self._origin
                self._origin = origin
        if moved:
            placed = self._placed()
            for st in self.chain.stages:
                st.engine.set_edits(placed)

    def _placed(self) -> np.ndarray:
        """The regions on the engine's clock (as they are on live input: no song to place)."""
        tr, rows = self.transport, self.edit_rows
        if tr is None or self._origin is None:
            return rows
        sr = self.chain.sample_rate
        placed = engine_rows(rows, self._origin, tr.length, sr, since=self._cut)
        if self._before is None:
            return placed
        return np.concatenate([engine_rows(rows, self._before, tr.length, sr, until=self._cut), placed])

    def prepare(self, sample_rate: float, max_block: int) -> "Monitor":
        self.chain.prepare(sample_rate, max_block)
        self._allocate(sample_rate, max_block)
        return self

    def _allocate(self, sample_rate: float, max_block: int) -> None:
        lat = self.chain.latency_samples
        self._delay = Ring(lat + max_block, prefill=lat)
        self._scratch = np.zeros((2, max_block), np.float32)
        self._restarted()

    def _restarted(self) -> None:
        self._clock = 0
        self._origin = self._before = None

    def reset(self) -> None:
        self.chain.reset()
        self._delay.clear()
        self._restarted()

    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        self._edits_between_blocks()
        n = x.shape[1]
        self._clock += n
        self._delay.write(x)
        if self.mode == BYPASS:
            self.chain.process_block(x, self._scratch[:, :n])
            self._delay.read(out)
        else:
            self.chain.process_block(x, out)
            self._delay.skip(n)
