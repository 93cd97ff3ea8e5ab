"""A bounce's render written as it comes, so that memory stays flat whatever the file's length.

A float file (32-bit wav) takes any level: the render goes to it chunk by chunk. An integer or
lossy file may clip, and headroom.py lowers such a render as a whole, which needs the whole
render's peak first: the render goes to an unnamed float temporary beside the output (gone
with the process, even on SIGKILL) while its level is measured, and is then copied into the
files chunk by chunk, lowered if it must be. Same samples as the whole-array path, in chunks.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ..formats import audiofile, headroom

CHUNK = headroom._CHUNK    # samples per write (and per true-peak piece)


class BounceWriter:
    """``emit(o, lo)`` (render.render_stream's sink) the render [pieces (outs, 2, k)] into
    ``targets`` (one per out); :meth:`finish` says what headroom did (None: nothing). Use it as
    a context: an error inside leaves no output behind. With ``channels`` 1 (a mono input,
    rendered as left = right) the files are mono: the mean of the two (exact where they agree)."""

    def __init__(self, targets: list[Path], sample_rate: float, depth: int, keep_level: bool,
                 channels: int = 2):
        self.targets, self.keep_level = targets, keep_level
        self.sr, self.depth, self.channels = sample_rate, depth, channels
        self.float = audiofile.is_float(targets[0], depth)
        self._buf = np.zeros((len(targets), channels, CHUNK), np.float32)
        self._fill = 0
        self._over, self._peak = 0, 0.0
        self._stack = ExitStack()
        self._temp = None

    def __enter__(self) -> "BounceWriter":
        self._files = [self._stack.enter_context(
            audiofile.atomic_writer(t, self.sr, self.depth, channels=self.channels)) for t in self.targets]
        if not self.float:
            self._temp = self._stack.enter_context(
                tempfile.TemporaryFile(prefix=".panslice-render-", dir=self.targets[0].parent))
        return self

    def __exit__(self, *exc) -> bool:
        return self._stack.__exit__(*exc)

    def emit(self, o: np.ndarray, lo: int) -> None:
        if self.channels == 1:
            o = (o[:, :1] + o[:, 1:]) * np.float32(0.5)
        done = 0
        while done < o.shape[2]:
            k = min(CHUNK - self._fill, o.shape[2] - done)
            self._buf[:, :, self._fill:self._fill + k] = o[:, :, done:done + k]
            self._fill += k
            done += k
            if self._fill == CHUNK:
                self._chunk(self._buf)

    def _chunk(self, chunk: np.ndarray) -> None:
        self._fill = 0
        if self.float:
            self._write(chunk)
            return
        self._over += headroom.clipped(chunk)
        self._peak = max(self._peak, float(np.abs(chunk).max()))
        chunk.tofile(self._temp)

    def _write(self, chunk: np.ndarray) -> None:
        for f, audio in zip(self._files, chunk):
            audiofile.write_block(f, audio)

    def finish(self) -> str | None:
        """Write what is left (an integer file: all of it, from the temporary)."""
        if self._fill:
            self._chunk(self._buf[:, :, :self._fill].copy())
        if self.float or not self._over:
            self._copy(None)
            return None
        peak = headroom.db(self._peak)
        if self.keep_level:
            self._copy(None)
            return f"{self._over} samples clipped (peak {peak:+.1f} dBFS)"
        tp = headroom.TruePeak()
        for chunk in self._chunks():
            tp.add(chunk.reshape(-1, chunk.shape[-1]))
        gain = 10 ** (headroom.CEILING_DB / 20) / max(tp.value(), self._peak)
        self._copy(np.float32(gain))
        return headroom.lowered(self._over, peak, gain)

    def _chunks(self):
        """The temporary's chunks, in order."""
        if self._temp is None:
            return
        size = self._temp.seek(0, 2) // 4
        self._temp.seek(0)
        per = self._buf.shape[0] * self.channels
        while size > 0:
            m = min(CHUNK, size // per)
            yield np.fromfile(self._temp, np.float32, per * m).reshape(-1, self.channels, m)
            size -= per * m

    def _copy(self, gain: np.float32 | None) -> None:
        for chunk in self._chunks():
            self._write(chunk if gain is None else (chunk * gain).astype(np.float32))
