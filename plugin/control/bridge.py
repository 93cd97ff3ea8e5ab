"""The bridge between control threads (OSC) and the audio loop.

The OSC thread hands over changes it has already validated; the audio loop takes them in
:meth:`Controls.on_block`, between blocks, and applies them to the chain's panslice stages. The
hand-over is a ``collections.deque``: ``append`` and ``popleft`` are single atomic operations in
CPython, so neither side ever waits on a lock that the other holds. Applied changes are recorded
with the sample position they took effect at, which is what ``bounce --automation`` replays
(with ``live --jack-transport``, at the stamp :meth:`Controls.on_block` is given: the
transport's frame).

A change may carry a due time (``at``, seconds on the ``time.time()`` clock, from an OSC bundle's
timetag). The first block after it arrives turns that time into a sample position, counting
from the block's own position at the block's wall-clock time, and the change waits until the
first block that starts there or later: it applies between blocks, as every change does, so
a bounce of the recording replays it exactly.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Callable, Iterable, Protocol

from ...dsp.errors import ParameterError
from ...dsp.params import Change


class Settable(Protocol):
    def set(self, name: str, value: float) -> None: ...


class Controls:
    """Changes from any thread in, applied by the audio loop between blocks.

    Parameters
    ----------
    stages : the panslice stages (or bare engines) the changes go to; every one gets them.
    record : keep every applied change as ``(sample_pos, name, value)`` in :attr:`recorded`.
    sample_rate : turns the due times of timed changes into sample positions (without it, a
        timed change applies at once).
    clock : the wall clock due times are read against (``time.time``, as OSC timetags are).

    ``levels`` is ``(target_rms, rest_rms)`` of the last processed block of the first stage (0.0
    until one was processed), and ``sample_pos`` the input position it was read at; both are
    plain attribute writes, read by the OSC thread for its meters. ``held`` counts the timed
    changes waiting for their block.
    """

    def __init__(self, stages: Iterable[Settable], *, record: bool = False,
                 sample_rate: float | None = None, clock: Callable[[], float] = time.time):
        self.stages = list(stages)
        self._inbox: deque[tuple[str, float, float | None]] = deque()
        self._held: list[tuple[int, int, str, float]] = []  # heap of (due sample, arrival, name, value)
        self._arrivals = 0
        self.sample_rate = sample_rate
        self._clock = clock
        self.recorded: list[Change] | None = [] if record else None
        self.levels: tuple[float, float] = (0.0, 0.0)
        self.sample_pos = -1
        self.held = 0
        self.applied = 0
        self.failed = 0

    def submit(self, name: str, value: float, at: float | None = None) -> None:
        """Queue one change (already validated against the registry), due at once or at wall
        time ``at``; never blocks."""
        self._inbox.append((name, value, at))

    def on_block(self, sample_pos: int, stamp: int | None = None) -> None:
        """Audio thread, between blocks: apply what is due, then publish the levels. Applied
        changes are recorded at ``stamp`` when given (the JACK transport's frame of this
        block), else at ``sample_pos``; due times always count input positions.

        Only the changes queued before the call are taken, so a flood cannot keep the audio
        thread here; several changes of one parameter within a block collapse into the last.
        """
        if self._inbox or (self._held and self._held[0][0] <= sample_pos):
            self._take(sample_pos, sample_pos if stamp is None else stamp)
        if self.stages:
            levels = getattr(self.stages[0], "levels", None)
            if levels is not None:
                self.levels = levels()
        self.sample_pos = sample_pos

    def _take(self, sample_pos: int, stamp: int) -> None:
        """Apply the timed changes that came due, then those queued now (they arrived later);
        hold the ones due in a later block; record them at ``stamp``."""
        batch: dict[str, float] = {}
        held = self._held
        while held and held[0][0] <= sample_pos:
            _, _, name, value = heapq.heappop(held)
            batch[name] = value
        n = len(self._inbox)
        now = self._clock() if n else 0.0
        for _ in range(n):
            name, value, at = self._inbox.popleft()
            due = sample_pos if at is None or not self.sample_rate else \
                sample_pos + round((at - now) * self.sample_rate)
            if due <= sample_pos:
                batch[name] = value
            else:
                self._arrivals += 1
                heapq.heappush(held, (due, self._arrivals, name, value))
        self.held = len(held)
        for name, value in batch.items():
            self._apply(stamp, name, value)

    def _apply(self, sample_pos: int, name: str, value: float) -> None:
        try:
            for st in self.stages:
                st.set(name, value)
        except ParameterError:
            self.failed += 1  # validated upstream; a stage refusing it must not stop audio
            return
        self.applied += 1
        if self.recorded is not None:
            self.recorded.append((sample_pos, name, value))
