"""Reading the frames an engine publishes (``Engine.publish_frames``), from another thread.

The kernel is the one writer: it fills slot ``count % K`` of a ring of K frames, then counts
the frame. The one reader copies the frames it has not seen, oldest first, and reads the count
again after copying: a frame whose slot the writer may have reached meanwhile (count now past
frame + K - 1) is dropped, never shown half-written. Neither side waits for the other and the
writer allocates nothing. Should a compiler ever let the count's store overtake the slot's, the
newest frame could mix two frames' values: it would be drawn, not heard, so that is harmless.
"""

from __future__ import annotations

import numpy as np


class FrameReader:
    """The reader of ``engine``'s published frames (one reader per engine).

    ``lost`` counts frames published that were never copied: the reader came too late (more
    than the ring holds, or more than ``out`` takes, since its last read) or the writer
    overwrote them during the copy. A picture decimates; the audio is never waited for.
    """

    def __init__(self, engine):
        self.engine = engine
        self.seen = 0
        self.lost = 0
        self._ring: np.ndarray | None = None

    def read(self, out: np.ndarray) -> int:
        """Copy the newest unseen frames into ``out`` [shape=(M, 2, bins)], oldest first, and
        return how many (``out[:m]``; at most M, the newest ones)."""
        pub = self.engine.published
        if pub is None:
            return 0
        ring, count = pub
        if ring is not self._ring:   # prepared again: a new ring, counted from 0
            self._ring, self.seen = ring, 0
        slots = ring.shape[0]
        end = int(count[0])
        first = max(self.seen, end - slots + 1, end - out.shape[0])
        for i, f in enumerate(range(first, end)):
            out[i] = ring[f % slots]
        safe = max(first, int(count[0]) - slots + 1)  # older ones may have been overwritten
        m = end - safe
        if safe > first:
            out[:m] = out[safe - first:end - first].copy()
        self.lost += safe - self.seen
        self.seen = end
        return m
