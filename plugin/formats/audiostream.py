"""Stereo input a block at a time: a file read as it is processed, or an array in memory.

A bounce of a two-hour file holds one block of it, not the file (:class:`StereoReader`); code
that has the audio in memory already gives it as an :class:`ArraySource`. Both say how long
they are before the first read (``frames``) and can start again from the top (``again``:
the ML prior reads ahead of the render with a second one).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ...dsp.engine import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from . import intact, wavheader
from .audiofile import READ_EXTENSIONS, AudioFileError, pick_channels, read_input

READ_BLOCK = 1 << 16     # samples read from a file at once


class ArraySource:
    """``audio`` [shape=(2, n)] given out in pieces, in order."""

    def __init__(self, audio: np.ndarray, sample_rate: float, mono: bool = False):
        self.audio, self.sample_rate, self.mono = audio, sample_rate, mono
        self.frames, self.dtype = audio.shape[1], audio.dtype
        self._pos = 0

    def read(self, m: int) -> np.ndarray:
        """The next ``m`` samples [shape=(2, m)] (fewer at the end)."""
        x = self.audio[:, self._pos:self._pos + m]
        self._pos += x.shape[1]
        return x

    def again(self) -> "ArraySource":
        return ArraySource(self.audio, self.sample_rate, self.mono)

    def close(self) -> None:
        pass


class StereoReader:
    """A stereo file read in order, a block at a time, with ``read_input``'s checks and
    errors (channels, no audio; and a sample rate the engine does not take) and its NaN/Inf rule (replaced by silence, one warning at
    :meth:`close` with the count). Formats only ffmpeg decodes are read whole. ``mono``: a
    one-channel input, read as left = right (see ``read_input``)."""

    dtype = np.dtype(np.float32)

    def __init__(self, path: str | os.PathLike, channels: Sequence[int] | None = None):
        from pedalboard.io import AudioFile

        p = self.path = Path(path)
        self.channels = channels
        if p.suffix.lower() in READ_EXTENSIONS and p.is_file():
            wavheader.check(p, p, AudioFileError)  # headers that would crash the decoder
        if p.suffix.lower() not in READ_EXTENSIONS or not p.is_file() or _damaged(p):
            # ffmpeg's formats, and files holding less than their header says (read_input
            # trims those to what is there and says so), are read whole
            audio, sr, self.mono = read_input(p, channels)
            self._array = ArraySource(audio, sr, self.mono)
            self.frames, self.sample_rate, self._file = audio.shape[1], sr, None
            return
        self._array, self.bad = None, 0
        try:
            self._file = AudioFile(str(p))
            self.sample_rate = float(self._file.samplerate)
            self.frames, n_ch = int(self._file.frames), int(self._file.num_channels)
        except Exception as e:  # pedalboard raises several types for undecodable files
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise AudioFileError(f"{p}: not a readable audio file ({reason})") from None
        if self.frames == 0:
            self.close()
            raise AudioFileError(f"{p}: contains no audio (zero length)")
        if not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            self.close()
            raise AudioFileError(f"{p}: its sample rate, {self.sample_rate:g} Hz, is not one panslice "
                                 f"processes ({MIN_SAMPLE_RATE:g} .. {MAX_SAMPLE_RATE:g} Hz)")
        try:
            self._pick, self.mono = pick_channels(p, n_ch, channels)
        except AudioFileError:
            self.close()
            raise
        self._left = self.frames

    def read(self, m: int) -> np.ndarray:
        """The next ``m`` samples [shape=(2, m)] float32 (fewer at the end)."""
        if self._array is not None:
            return self._array.read(m)
        m = min(m, self._left)
        x = self._file.read(m) if m else np.zeros((2, 0), np.float32)
        if x.shape[1] < m:  # the file holds less than its header said: silence, as read_input
            x = np.concatenate([x, np.zeros((x.shape[0], m - x.shape[1]), np.float32)], axis=1)
        self._left -= m
        x = np.asarray(x[self._pick] if self._pick is not None else x, dtype=np.float32)
        if not np.isfinite(x).all():
            bad = ~np.isfinite(x)
            self.bad += int(bad[0].sum() if self.mono else bad.sum())
            x = np.where(bad, np.float32(0), x)
        return x

    def again(self) -> "StereoReader | ArraySource":
        return self._array.again() if self._array is not None else StereoReader(self.path, self.channels)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if self.bad:
                warnings.warn(f"{self.path}: {self.bad} NaN/Inf samples replaced with silence")
                self.bad = 0

    def __enter__(self) -> "StereoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def header_rate(path: str | os.PathLike) -> float | None:
    """A file's sample rate from its header, nothing decoded; None for a format only ffmpeg
    reads or a file that does not open (its bounce says why)."""
    from pedalboard.io import AudioFile

    p = Path(path)
    if p.suffix.lower() not in READ_EXTENSIONS or not p.is_file():
        return None
    try:
        wavheader.check(p, p, AudioFileError)  # headers that would crash the decoder
        with AudioFile(str(p)) as f:
            return float(f.samplerate)
    except Exception:  # noqa: BLE001 -- pedalboard raises several types for undecodable files
        return None


def _damaged(p: Path) -> bool:
    """Whether ``p`` holds less audio than its header says (see formats/intact.py)."""
    from pedalboard.io import AudioFile

    suffix = p.suffix.lower()
    if suffix == ".flac":
        return intact.flac_present(p) is not None
    if suffix == ".mp3":
        return intact.mp3_short(p)
    present = intact.pcm_frames_present(p)
    if present is None:
        return False
    try:
        with AudioFile(str(p)) as f:
            return present < f.frames
    except Exception:  # noqa: BLE001 -- the reader below reports an unreadable file
        return False
