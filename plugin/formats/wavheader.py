"""A WAV file's format chunk, checked before the decoder sees it.

pedalboard's WAV reader crashes the process (a segmentation fault, not an exception) on some
format chunks: a compressed encoding such as ADPCM without its extra fields, a 64-bit float
file with a zero block size or sample rate, and others that fuzzing found (tests/test_fuzz.py).
Reading the header first turns each into one error line; a file this check passes is one that
the reader handles.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ...dsp.errors import PansliceError

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
BITS = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}
MAX_RATE = 1_536_000          # 8x 192 kHz: beyond any real recording
MAX_CHANNELS = 256
_MAX_CHUNKS = 64              # chunks looked at before the format one (LIST, bext, JUNK...)


def check(path: Path, named: Path, error: type[PansliceError]) -> None:
    """Raise ``error`` naming ``named`` if ``path`` is a RIFF/WAVE file whose format chunk is
    missing or is not plain PCM or float with consistent fields. Other files pass (their own
    reader judges them)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return
        for _ in range(_MAX_CHUNKS):
            chunk = f.read(8)
            if len(chunk) < 8 or chunk[:4] == b"data":
                break
            size = struct.unpack("<I", chunk[4:])[0]
            if chunk[:4] == b"fmt ":
                _check_format(f.read(min(size, 64)), named, error)
                return
            f.seek(size + (size & 1), 1)
    raise error(f"{named}: not a readable audio file (a WAV file without a format chunk)")


def _check_format(fmt: bytes, named: Path, error: type[PansliceError]) -> None:
    if len(fmt) < 16:
        raise error(f"{named}: not a readable audio file (a WAV format chunk of {len(fmt)} bytes)")
    tag, ch, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]    # the sub-format GUID's first two bytes
    if tag not in BITS:
        raise error(f"{named}: WAV encoding 0x{tag:04x} is not read here, only PCM and float "
                    "(convert it, e.g. ffmpeg -i IN -c:a pcm_s24le OUT.wav)")
    problem = (f"{bits}-bit samples" if bits not in BITS[tag] else
               f"{ch} channels" if not 1 <= ch <= MAX_CHANNELS else
               f"a sample rate of {rate} Hz" if not 1 <= rate <= MAX_RATE else
               f"a block size of {align} bytes for {ch} x {bits} bits" if align != ch * bits // 8 else None)
    if problem:
        raise error(f"{named}: not a readable audio file (its WAV header says {problem})")
