"""How much of an audio file is really there. pedalboard's readers trust the header: a WAV or
AIFF cut mid-way, or one whose header claims ten times its data, reads as the header's length
padded with silence; an MP3 cut mid-way the same; a FLAC cut mid-way reads entirely silent in
one call (in blocks, up to the damage, then silence), and one cut inside its last frame reads
that frame as another's samples. These checks look at the bytes instead.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def pcm_frames_present(path: Path) -> int | None:
    """Frames a WAV/AIFF file really holds (the header's count or fewer), None if not PCM
    in a plain RIFF/FORM container (then the reader is trusted)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _chunks(f, size, "<", b"fmt ", b"data", _riff_frames)
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                return _chunks(f, size, ">", b"COMM", b"SSND", _aiff_frames)
    except (OSError, struct.error):
        return None
    return None


def _chunks(f, size, order, fmt_id, data_id, frames):
    fmt = None
    while True:
        hdr = f.read(8)
        if len(hdr) < 8:
            return None
        cid, n = hdr[:4], struct.unpack(order + "I", hdr[4:])[0]
        if cid == fmt_id:
            fmt = f.read(min(n, 64))
            f.seek(n - len(fmt) + (n & 1), 1)
        elif cid == data_id:
            return frames(fmt, f, n, size) if fmt else None
        else:
            f.seek(n + (n & 1), 1)


def _riff_frames(fmt, f, declared, size):
    align = struct.unpack("<H", fmt[12:14])[0]
    return min(declared, size - f.tell()) // align if align else None


def _aiff_frames(comm, f, declared, size):
    channels, frames, bits = struct.unpack(">hIh", comm[:8])
    offset = struct.unpack(">I", f.read(8)[:4])[0]
    frame_bytes = channels * ((bits + 7) // 8)
    present = (size - f.tell() - offset) // frame_bytes if frame_bytes else frames
    return max(0, min(frames, present))


def flac_present(path: Path) -> int | None:
    """Samples a FLAC really holds when fewer than its STREAMINFO total, else None: its last
    frame (found from its end: sync code, header CRC-8) ends before the total (a false length),
    or is itself cut (its CRC-16, which ends the file, does not match), when the samples before
    it are what is there. (An MD5 of the samples would say it too, but pedalboard's floats are
    not always the file's integers exactly.)"""
    with open(path, "rb") as f:
        head = f.read(42)
        if head[:4] != b"fLaC" or head[4] & 0x7F != 0:
            return None
        info = int.from_bytes(head[18:26], "big")
        total, min_block = info & ((1 << 36) - 1), int.from_bytes(head[8:10], "big")
        size = f.seek(0, 2)
        f.seek(max(42, size - (1 << 20)))
        tail = f.read()
    if total == 0:
        return None
    if len(tail) >= 128 and tail[-128:-125] == b"TAG":
        tail = tail[:-128]          # an ID3v1 tag after the frames
    at = len(tail)
    while (at := tail.rfind(b"\xff", 0, at)) >= 0:
        frame = _flac_frame(tail[at:at + 16], min_block)
        if frame is not None and frame[0] < total:
            first, block = frame
            whole = len(tail) - at >= 8 and _crc16(tail[at:-2]) == int.from_bytes(tail[-2:], "big")
            present = first + block if whole else first
            return present if present < total else None
    return None


def _flac_frame(b: bytes, min_block: int) -> tuple[int, int] | None:
    """(first sample, block size) of a FLAC frame header at the start of ``b``, or None."""
    if len(b) < 6 or b[1] not in (0xF8, 0xF9) or b[2] >> 4 == 0 or b[2] & 15 == 15 \
            or b[3] >> 4 > 10 or (b[3] >> 1) & 7 in (3, 7) or b[3] & 1:
        return None
    lead, i = b[4], 5
    extra = 0 if lead < 0x80 else (8 - (~lead & 0xFF).bit_length() - 1)
    if extra < 0 or extra > 6 or (0x80 <= lead < 0xC0):
        return None
    number = lead & (0x7F >> extra)
    for _ in range(extra):
        if i >= len(b) or b[i] >> 6 != 2:
            return None
        number, i = (number << 6) | (b[i] & 0x3F), i + 1
    code = b[2] >> 4
    if code in (6, 7):
        n = 1 if code == 6 else 2
        block, i = int.from_bytes(b[i:i + n], "big") + 1, i + n
    else:
        block = 192 if code == 1 else (576 << (code - 2) if code <= 5 else 256 << (code - 8))
    i += {12: 1, 13: 2, 14: 2}.get(b[2] & 15, 0)
    if i >= len(b) or _crc8(b[:i]) != b[i]:
        return None
    return (number if b[1] & 1 else number * min_block), block


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    """FLAC's frame CRC (polynomial 0x8005, from 0)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def mp3_short(path: Path) -> bool:
    """True if the MP3's Xing/Info header gives its stream's size in bytes and the file holds
    less than 99% of it (the decoder then pads the missing part with silence)."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if head[:3] == b"ID3":
            start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        f.seek(start)
        frame = f.read(200)
    at = max(frame.find(b"Xing"), frame.find(b"Info"))
    if at < 0 or len(frame) < at + 16:
        return False
    flags = struct.unpack(">I", frame[at + 4:at + 8])[0]
    if not flags & 2:
        return False
    stream = struct.unpack(">I", frame[at + 12:at + 16] if flags & 1 else frame[at + 8:at + 12])[0]
    return path.stat().st_size - start < 0.99 * stream


def up_to_last_sound(audio: np.ndarray) -> int:
    """Frames up to the last non-zero sample: what a decoder that padded the rest produced."""
    loud = np.flatnonzero(np.any(audio != 0, axis=0))
    return int(loud[-1]) + 1 if loud.size else 0
