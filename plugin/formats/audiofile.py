"""Reading and writing audio files safely, through pedalboard.io.AudioFile.

Every failure becomes one :class:`AudioFileError` line that names the file and the problem.
Writes go to a temporary file beside the target and are renamed into place only when complete,
so a failed or interrupted render never leaves half a file, and an input is never overwritten.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ...dsp.errors import PansliceError
from . import intact, wavheader
from .atomic import atomic_path

WRITE_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".mp3", ".ogg")
READ_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".bwf", ".mp3", ".ogg")  # pedalboard's own
INTEGER_ONLY = (".flac", ".aiff", ".aif")  # hold 16 or 24 bits, not 32-bit float
BIT_DEPTHS = (16, 24, 32)
READ_BLOCK = 1 << 12  # a read across a damaged FLAC frame gives silence whole: one frame (4096)


class AudioFileError(PansliceError):
    """An audio file that cannot be read or written, with the reason."""


def read_input(path: str | os.PathLike,
               channels: Sequence[int] | None = None) -> tuple[np.ndarray, float, bool]:
    """Read ``path`` as float32 [shape=(2, n)], its sample rate, and whether it is mono.

    channels : one or two 1-based channel numbers to use (see :func:`pick_channels`). A mono
    input (one channel) is read as two equal channels: the engine takes stereo, and what it
    makes of left = right folds back to mono exactly.
    Non-finite samples are replaced by 0 with a warning.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a folder, not an audio file")
    if p.suffix.lower() in READ_EXTENSIONS:
        audio, sr = _read(p, p)
    else:
        audio, sr = _read_through_ffmpeg(p)
    audio = np.asarray(audio, dtype=np.float32)
    n_ch, n = audio.shape
    if n_ch == 0:
        raise AudioFileError(f"{p}: not a readable audio file (it has no channels)")
    if n == 0:
        raise AudioFileError(f"{p}: contains no audio (zero length)")
    pick, mono = pick_channels(p, n_ch, channels)
    if pick is not None:
        audio = audio[pick]
    bad = ~np.isfinite(audio)
    if bad.any():
        warnings.warn(f"{p}: {int(bad[0].sum() if mono else bad.sum())} NaN/Inf samples "
                      "replaced with silence", stacklevel=2)
        audio = np.where(bad, np.float32(0), audio)
    return np.ascontiguousarray(audio), sr, mono


def pick_channels(p: Path, n_ch: int, channels: Sequence[int] | None) -> tuple[list[int] | None, bool]:
    """The channel indices to read as left and right (None: the file's own two) and whether
    the input is mono: a one-channel file, or one channel picked with ``--channels``."""
    if channels is not None:
        if len(channels) not in (1, 2) or not all(1 <= c <= n_ch for c in channels):
            raise AudioFileError(f"{p}: --channels must name one or two of channels 1..{n_ch}, "
                                 f"got {list(channels)}")
        return [channels[0] - 1, channels[-1] - 1], len(channels) == 1
    if n_ch < 1:    # found by fuzzing: an MP3 cut to its first 40 bytes
        raise AudioFileError(f"{p}: not a readable audio file (it has no channels)")
    if n_ch == 1:
        return [0, 0], True
    if n_ch > 2:
        raise AudioFileError(f"{p}: has {n_ch} channels; pick two with --channels L,R (e.g. "
                             "--channels 1,2), or one with --channels N")
    return None, False


def _read(path: Path, named: Path) -> tuple[np.ndarray, float]:
    from pedalboard.io import AudioFile

    wavheader.check(path, named, AudioFileError)  # headers that would crash the decoder
    try:
        with AudioFile(str(path)) as f:
            sr = float(f.samplerate)
            frames, n_ch = int(f.frames), int(f.num_channels)
            present = (intact.flac_present(path) if path.suffix.lower() == ".flac"
                       else intact.pcm_frames_present(path))
            audio = _read_blocks(f, n_ch, frames if present is None else min(present, frames))
    except Exception as e:  # pedalboard raises several types for undecodable files
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioFileError(f"{named}: not a readable audio file ({reason})") from None
    if path.suffix.lower() == ".mp3" and intact.mp3_short(path):
        audio = audio[:, :intact.up_to_last_sound(audio)]
    if audio.shape[1] < frames:
        warnings.warn(f"{named}: truncated or corrupt: its header says {frames / sr:.2f} s, the "
                      f"file holds {audio.shape[1] / sr:.2f} s; processing what is there",
                      stacklevel=3)
    return audio, sr


def _read_blocks(f, n_ch: int, frames: int) -> np.ndarray:
    """Read ``frames`` in blocks: a FLAC damaged mid-way reads as silence in one call, but up
    to the damage in blocks; the samples of an intact file are the same either way."""
    out = np.empty((n_ch, frames), np.float32)
    pos = 0
    while pos < frames:
        x = f.read(min(READ_BLOCK, frames - pos))
        if x.shape[1] == 0:
            break
        out[:, pos:pos + x.shape[1]] = x
        pos += x.shape[1]
    return out[:, :pos]


def _read_through_ffmpeg(p: Path) -> tuple[np.ndarray, float]:
    """A format pedalboard does not read here (.m4a, .opus, ...), decoded by ffmpeg if it is
    installed into a temporary float wav."""
    import shutil
    import subprocess
    import tempfile

    readable = ", ".join(e[1:] for e in READ_EXTENSIONS)
    if not shutil.which("ffmpeg"):
        raise AudioFileError(f"{p}: cannot read '{p.suffix or '(no extension)'}' files (readable: "
                             f"{readable}; with ffmpeg installed, also what ffmpeg decodes)")
    with tempfile.TemporaryDirectory(prefix="panslice-") as d:
        wav = Path(d) / "decoded.wav"
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(p), "-vn",
                            "-c:a", "pcm_f32le", str(wav)], capture_output=True, text=True)
        if r.returncode != 0:
            reason = (r.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
            raise AudioFileError(f"{p}: not a readable audio file (ffmpeg: {reason})")
        return _read(wav, p)


def source_bit_depth(path: str | os.PathLike) -> int:
    """The bit depth to keep from an input: 16 or 24 for integer files, 32 for float or 32-bit
    ones; 16 for lossy and ffmpeg-decoded inputs (their depth is not the music's)."""
    from pedalboard.io import AudioFile

    p = Path(path)
    if p.suffix.lower() not in (".wav", ".flac", ".aiff", ".aif", ".bwf"):
        return 16
    try:
        with AudioFile(str(p)) as f:
            dtype = str(f.file_dtype)
    except Exception:  # noqa: BLE001 -- read_input has said what is wrong by now
        return 16
    return {"int8": 16, "int16": 16, "int24": 24}.get(dtype, 32)


def depth_for(path: str | os.PathLike, depth: int) -> int:
    """``depth`` as ``path``'s format holds it (32-bit float only in wav: 24 elsewhere)."""
    return 24 if depth == 32 and Path(path).suffix.lower() in INTEGER_ONLY else depth


def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
                 overwrite: bool = True, bit_depth: int | None = None) -> Path:
    """Refuse an output that is an input, has no writable format or none at ``bit_depth``,
    lives in an unwritable folder, or (unless ``overwrite``) exists already."""
    p = Path(path)
    if p.suffix.lower() not in WRITE_EXTENSIONS:
        raise AudioFileError(f"{p}: cannot write '{p.suffix or '(no extension)'}' files "
                             f"(use one of {', '.join(WRITE_EXTENSIONS)})")
    if bit_depth == 32 and p.suffix.lower() in INTEGER_ONLY:
        raise AudioFileError(f"{p}: {p.suffix[1:]} holds 16 or 24 bits; 32-bit float needs .wav")
    for i in inputs:
        if Path(i).exists() and p.exists() and os.path.samefile(i, p):
            raise AudioFileError(f"{p}: refusing to overwrite the input file")
    if p.exists() and not overwrite:
        raise AudioFileError(f"{p}: exists already (give --overwrite, or -y, to replace it)")
    folder = p.parent if str(p.parent) else Path(".")
    # Check the folder (or the nearest one that exists) without creating anything yet, so a
    # bounce that fails later leaves no empty folder behind; atomic_writer creates it.
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AudioFileError(f"{folder}: cannot create output folder ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AudioFileError(f"{folder}: output folder is not writable")
    return p


def is_float(path: str | os.PathLike, bit_depth: int) -> bool:
    """Whether ``path`` at ``bit_depth`` is written as float samples (which never clip)."""
    return bit_depth == 32 and Path(path).suffix.lower() == ".wav"


@contextmanager
def atomic_writer(path: str | os.PathLike, sample_rate: float, bit_depth: int = 16,
                  sweep: bool = True, channels: int = 2) -> Iterator[object]:
    """Open a pedalboard writer of ``channels`` (1 or 2) on a temporary file; rename it to
    ``path`` only on success (``sweep``: see :func:`atomic_path`)."""
    from pedalboard.io import AudioFile

    p = Path(path)
    if bit_depth not in BIT_DEPTHS:
        raise AudioFileError(f"{p}: bit depth {bit_depth} not supported (valid: 16, 24, 32)")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioFileError(f"{p.parent}: cannot create output folder ({e.strerror})") from None
    kwargs = {"bit_depth": bit_depth} if p.suffix.lower() in (".wav", ".flac", ".aiff", ".aif") else {}
    written = [0]

    def check(tmp: Path) -> None:  # what can be read back: a full disk truncates ogg silently
        with AudioFile(str(tmp)) as r:
            if r.frames < written[0]:
                raise AudioFileError(f"{p}: could not write (only {r.frames} of {written[0]} "
                                     "frames reached the disk: is it full?)")

    try:
        with atomic_path(p, check, sweep) as tmp:
            with AudioFile(str(tmp), "w", samplerate=sample_rate, num_channels=channels, **kwargs) as f:
                yield f
                written[0] = int(f.frames)
    except BaseException as e:
        if isinstance(e, Exception) and not isinstance(e, PansliceError):
            raise AudioFileError(f"{p}: could not write ({e})") from None
        raise


def write_stereo(path: str | os.PathLike, audio: np.ndarray, sample_rate: float, bit_depth: int = 16) -> None:
    """Write ``audio`` [shape=(channels, n)]: two channels, or one (a mono file)."""
    with atomic_writer(path, sample_rate, bit_depth, channels=audio.shape[0]) as f:
        write_block(f, audio)


def write_block(f, audio: np.ndarray) -> None:
    """Write ``audio`` [shape=(channels, n)] to an open writer. pedalboard refuses a square
    array (it cannot tell channels from samples): two samples go one at a time."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    for part in ([audio[:, :1], audio[:, 1:]] if audio.shape == (2, 2) else [audio]):
        f.write(np.ascontiguousarray(part))
