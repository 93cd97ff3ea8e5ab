"""Transport for a file played as live input: play, pause and seek, asked from the page.

The page's thread only writes requests (plain attributes); the audio thread applies them in
``read``, between blocks, so the source never changes under a block. Paused, the source still
hands out blocks, of silence, at the file's pace: the chain's tail rings out, the output device
stays fed and the session's sample count (what automation is stamped with) keeps running.

For each block ``block_at`` says which file sample it begins at (None while paused), so the
monitor can place painted regions on the song's time. The chain keeps running through the
loop's wrap (seamless, as ``live --input-file --loop``) and through a seek while playing (the
old place plays out for the chain's latency, then the new one follows, through the
overlap-add: no gap). Only 'play' after a pause sets ``restart``: the chain, which held
nothing but the pause's silence, restarts with the song there, so that what is heard from
then on is, after the latency, sample for sample what ``bounce`` gives.
"""

from __future__ import annotations

import numpy as np


class Transport:
    """Wraps a looping :class:`~panslice.plugin.live.streams.FileSource`."""

    def __init__(self, source, *, playing: bool = True):
        self.source = source
        self.sample_rate = source.sample_rate
        self.length = source.length
        self.playing = playing
        self.started_at = 0 if playing else None  # input sample position of the last 'play'
        self.delivered = 0                        # samples handed out (the loop's position)
        self.want_playing = playing
        self._seek_to: int | None = None
        self.block_at: int | None = None  # file sample the last block began at; None paused
        self.restart = False              # the last block began playing after a pause

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
        return self.source.position / self.sample_rate

    # -- the audio thread -----------------------------------------------------------------------
    def read(self, n: int) -> np.ndarray:
        seek = self._seek_to
        if seek is not None:
            self._seek_to = None
            self.source.seek(seek)
        if self.want_playing != self.playing:
            self.playing = self.want_playing
            if self.playing:
                self.started_at = self.delivered
                self.restart = True
        if self.playing:
            self.block_at = self.source.position
            x = self.source.read(n)
        else:
            self.block_at = None
            x = self.source.idle(n)
        self.delivered += x.shape[1]
        return x

    def __getattr__(self, name):
        return getattr(self.source, name)
