"""Recorded automation played back in a live session, on the session's own clock.

The clock is the loop's input position, or with ``--jack-transport`` the JACK transport's frame
(``live/streams.TransportLog``). Before each block the knobs are set to what the automation
says at that block's position: rows are played as the clock passes them, and when the clock
jumps (the transport was located, or wrapped a loop) every knob is set at once to its value
there, so a take can be redone from the same bar. The knobs change between blocks, as every
live change does, so a row that falls inside a block takes effect at the next block.
"""

from __future__ import annotations

import bisect
from typing import Callable, Iterable

from ...dsp.errors import ParameterError
from ..formats.automation import Automation


class Player:
    """Sets ``stages``' knobs to ``auto``'s state at each block's position (:meth:`on_block`).

    A knob with no ``start`` row and no row yet keeps its value. A change from OSC in between
    holds until the automation moves that knob again, or the clock jumps. ``mirror(name,
    value)`` is told every value set (the control hub, so ``get`` and the surfaces follow).
    ``jumps`` counts the jumps seen; ``block`` is the largest step that is not one.
    """

    def __init__(self, auto: Automation, stages: Iterable, block: int,
                 mirror: Callable[[str, float], None] | None = None):
        self.stages = list(stages)
        self.block = block
        self.mirror = mirror
        rows = sorted(range(len(auto.changes)), key=lambda i: auto.changes[i][0])  # stable: file order
        self._tracks: dict[str, tuple[list[int], list[float], float | None]] = {
            name: ([], [], value) for name, value in auto.start.items()}
        for i in rows:
            pos, name, value = auto.changes[i]
            track = self._tracks.setdefault(name, ([], [], None))
            track[0].append(pos)
            track[1].append(value)
        self._set: dict[str, float] = {}   # what this player set last, per knob
        self._last: int | None = None
        self.jumps = 0
        self.failed = 0

    def value_at(self, name: str, pos: int) -> float | None:
        """What the automation says ``name`` is at ``pos`` (None: it does not say)."""
        positions, values, start = self._tracks[name]
        i = bisect.bisect_right(positions, pos)
        return values[i - 1] if i else start

    def on_block(self, pos: int) -> None:
        """Between blocks: the knobs to their values at ``pos`` (all of them after a jump)."""
        last, self._last = self._last, pos
        if last is not None and not 0 <= pos - last <= self.block:
            self.jumps += 1
            self._set.clear()
        for name in self._tracks:
            v = self.value_at(name, pos)
            if v is not None and self._set.get(name, None) != v:
                self._apply(name, v)

    def _apply(self, name: str, value: float) -> None:
        try:
            for st in self.stages:
                st.set(name, value)
        except ParameterError:
            self.failed += 1   # validated when the file loaded; a stage refusing it must not stop audio
        self._set[name] = value
        if self.mirror is not None:
            self.mirror(name, value)


class Timeline:
    """The controls of a session whose clock is not the loop's input position: before each
    block, ``clock(pos)`` gives the session's time (the JACK transport's frame); ``player``
    plays automation at that time, then ``controls`` (OSC) apply their changes and record
    them at it. Either may be None."""

    def __init__(self, clock: Callable[[int], int], controls=None, player: Player | None = None):
        self.clock = clock
        self.controls = controls
        self.player = player

    def on_block(self, sample_pos: int) -> None:
        now = self.clock(sample_pos)
        if self.player is not None:
            self.player.on_block(now)
        if self.controls is not None:
            self.controls.on_block(sample_pos, stamp=now)
