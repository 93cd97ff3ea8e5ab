"""The bridge between control threads (OSC) and the audio loop.

The OSC thread hands over changes it has already validated; the audio loop takes them in
:meth:`Controls.on_block`, between blocks, and applies them to the chain's panslice stages. The
hand-over is a ``collections.deque``: ``append`` and ``popleft`` are single atomic operations in
CPython, so neither side ever waits on a lock that the other holds. Applied changes are recorded
with the sample position they took effect at, which is what ``bounce --automation`` replays.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Protocol

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

    ``levels`` is ``(target_rms, rest_rms)`` of the last processed block of the first stage (0.0
    until one was processed), and ``sample_pos`` the input position it was read at; both are
    plain attribute writes, read by the OSC thread for its meters.
    """

    def __init__(self, stages: Iterable[Settable], *, record: bool = False):
        self.stages = list(stages)
        self._inbox: deque[tuple[str, float]] = deque()
        self.recorded: list[Change] | None = [] if record else None
        self.levels: tuple[float, float] = (0.0, 0.0)
        self.sample_pos = -1
        self.applied = 0
        self.failed = 0

    def submit(self, name: str, value: float) -> None:
        """Queue one change (already validated against the registry); never blocks."""
        self._inbox.append((name, value))

    def on_block(self, sample_pos: int) -> None:
        """Audio thread, between blocks: apply what arrived, then publish the levels.

        Only the changes queued before the call are taken, so a flood cannot keep the audio
        thread here; several changes of one parameter within a block collapse into the last.
        """
        inbox = self._inbox
        n = len(inbox)
        if n:
            batch: dict[str, float] = {}
            for _ in range(n):
                name, value = inbox.popleft()
                batch[name] = value
            for name, value in batch.items():
                try:
                    for st in self.stages:
                        st.set(name, value)
                except ParameterError:
                    self.failed += 1  # validated upstream; a stage refusing it must not stop audio
                    continue
                self.applied += 1
                if self.recorded is not None:
                    self.recorded.append((sample_pos, name, value))
        if self.stages:
            levels = getattr(self.stages[0], "levels", None)
            if levels is not None:
                self.levels = levels()
        self.sample_pos = sample_pos
