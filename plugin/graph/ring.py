"""A stereo ring buffer: the one FIFO behind delay lines, plugin latency buffers and JACK ports.

It is allocated once and then copies into and out of its own storage, so the audio loop
never allocates through it. One writer and one reader may live in different threads (the JACK
callback and the live loop): each side moves only its own counter, after its copy is done,
and no lock is taken.
"""

from __future__ import annotations

import sys

import numpy as np

SWITCH_INTERVAL_S = 0.0005   # the longest a thread handing audio over waits for the GIL


class ShortSwitchInterval:
    """Holds the interpreter's thread switch interval at ``SWITCH_INTERVAL_S`` at most while
    threads hand audio over (Python's default 5 ms is most of a JACK period); ``restore`` gives
    back the interval it found. Nested holders restore in reverse order."""

    def __init__(self):
        self._saved = sys.getswitchinterval()
        sys.setswitchinterval(min(self._saved, SWITCH_INTERVAL_S))

    def restore(self) -> None:
        sys.setswitchinterval(self._saved)


class Ring:
    """FIFO of stereo float32 samples holding up to ``capacity`` samples.

    ``prefill`` zeros are queued at the start: a ring that is written and read by the same
    amount each block is then a delay line of ``prefill`` samples.
    """

    def __init__(self, capacity: int, prefill: int = 0):
        if not 0 <= prefill <= capacity:
            raise ValueError(f"prefill {prefill} does not fit a ring of {capacity}")
        self.capacity = int(capacity)
        self._buf = np.zeros((2, max(self.capacity, 1)), np.float32)
        self._prefill = int(prefill)
        self._w = self._prefill   # samples ever written (moved only by the writer)
        self._r = 0               # samples ever read (moved only by the reader)

    def clear(self) -> None:
        """Back to the state after construction (the prefill of zeros queued again)."""
        self._buf[:] = 0.0
        self._r = 0
        self._w = self._prefill

    @property
    def available(self) -> int:
        """Samples queued for reading."""
        return self._w - self._r

    @property
    def space(self) -> int:
        """Samples that can be written without overwriting unread ones."""
        return self.capacity - (self._w - self._r)

    def write(self, x: np.ndarray) -> bool:
        """Queue ``x`` [shape=(2, n)]; returns False (and queues nothing) when it does not fit."""
        n = x.shape[1]
        if n > self.space:
            return False
        i = self._w % self.capacity
        first = min(n, self.capacity - i)
        self._buf[:, i:i + first] = x[:, :first]
        if first < n:
            self._buf[:, :n - first] = x[:, first:]
        self._w += n
        return True

    def read(self, out: np.ndarray) -> bool:
        """Fill ``out`` [shape=(2, n)] with the oldest n samples; returns False (and consumes
        nothing) when fewer than n are queued."""
        n = out.shape[1]
        if n > self.available:
            return False
        i = self._r % self.capacity
        first = min(n, self.capacity - i)
        out[:, :first] = self._buf[:, i:i + first]
        if first < n:
            out[:, first:] = self._buf[:, :n - first]
        self._r += n
        return True

    def skip(self, n: int) -> None:
        """Drop the oldest ``n`` queued samples (at most ``available``)."""
        self._r += min(n, self.available)
