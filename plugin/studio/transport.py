"""Transport for a file played as live input: play, pause and seek, asked from the page.

The page's thread only writes requests (plain attributes); the audio thread applies them in
``read``, between blocks, so the source never changes under a block. Paused, the source still
hands out blocks, of silence, at the file's pace: the chain's tail rings out, the output device
stays fed and the session's sample count (what automation is stamped with) keeps running.

Each block where playback starts a new stretch of the file (play, a seek, the loop's wrap)
sets ``stretch_from`` to the file sample the block begins at; the monitor takes it in the same
block (same thread) to restart the chain there, so painted regions land on the song's time.
"""

from __future__ import annotations

import numpy as np


class Transport:
    """Wraps a looping :class:`~panslice.plugin.live.streams.FileSource`."""

    def __init__(self, source, *, playing: bool = True):
        self.source = source
        self.sample_rate = source.sample_rate
        self.length = source.audio.shape[1]
        self.playing = playing
        self.started_at = 0 if playing else None  # input sample position of the last 'play'
        self.delivered = 0                        # samples handed out (the loop's position)
        self.want_playing = playing
        self._seek_to: int | None = None
        self._next: int | None = None  # where the next block continues the current stretch
        self.stretch_from: int | None = None
        self._silence = np.zeros_like(source._buf)

    # -- requests (any thread) ------------------------------------------------------------------
    def play(self) -> None:
        self.want_playing = True

    def pause(self) -> None:
        self.want_playing = False

    def seek(self, seconds: float) -> None:
        self._seek_to = int(min(max(seconds, 0.0), self.length / self.sample_rate) * self.sample_rate)

    @property
    def position(self) -> float:
        """Where in the file playback is, in seconds."""
        return self.source._pos / self.sample_rate

    # -- the audio thread -----------------------------------------------------------------------
    def read(self, n: int) -> np.ndarray:
        seek = self._seek_to
        if seek is not None:
            self._seek_to = None
            self.source._pos = min(seek, self.length - 1)
        if self.want_playing != self.playing:
            self.playing = self.want_playing
            if self.playing:
                self.started_at = self.delivered
        if self.playing:
            x = self._play(n)
        else:
            x = self._silence[:, :n]
            self._next = None
            self.source._pace(n)
        self.delivered += x.shape[1]
        return x

    def _play(self, n: int) -> np.ndarray:
        start = self.source._pos
        x = self.source.read(n)
        end = start + x.shape[1]
        if start != self._next or end > self.length:
            self.stretch_from = start
        self._next = self.source._pos if end > self.length else end
        return x

    def __getattr__(self, name):
        return getattr(self.source, name)
