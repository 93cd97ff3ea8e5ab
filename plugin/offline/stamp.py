"""The record that makes a batch idempotent: beside each output, a small JSON sidecar
(``<output>.panslice.json``) with the input's content hash and fingerprint, the settings' hash
and panslice's version. It is written last, after every output file is in place, so its
presence means "this output is complete and was made from exactly this".

A rerun compares cheaply first (fingerprint: size and change stamp, from one listing) and,
when only the fingerprint differs, by content hash (a touched but unchanged file is not redone).
"""

from __future__ import annotations

import hashlib
import json
import math

from ... import __version__
from .catalogue import filesystem

SUFFIX = ".panslice.json"
CHUNK = 1 << 20


def sidecar_of(output: str) -> str:
    return output.rstrip("/") + SUFFIX


def settings_hash(description: dict) -> str:
    """A stable hash of everything that shapes the output (parameters, outputs, format, chain
    text); -inf and nan are spelt out so JSON can hold them."""
    def plain(v):
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    text = json.dumps(plain(description), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def content_hash(path: str) -> str:
    """sha256 of a local file's bytes, read in 1 MiB chunks (memory stays flat)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def record(input_url: str, input_hash: str, fp: str, settings: str, outputs: list[str],
           audio_seconds: float) -> dict:
    return {"input": input_url, "input_sha256": input_hash, "input_fingerprint": fp,
            "settings_sha256": settings, "version": __version__, "outputs": outputs,
            "audio_seconds": audio_seconds}


def current(rec: dict | None, settings: str) -> bool:
    """Whether ``rec`` was made by this version with these settings."""
    return bool(rec) and rec.get("settings_sha256") == settings and rec.get("version") == __version__


def read(output: str) -> dict | None:
    """The sidecar of ``output``, or None if absent or unreadable (then the output is redone)."""
    fs, path = filesystem(sidecar_of(output))
    try:
        return json.loads(fs.cat_file(path))
    except (OSError, ValueError):
        return None


def read_many(outputs: list[str]) -> list[dict | None]:
    """The sidecars of many outputs at once: one batched request where the store allows it
    (s3fs fetches them concurrently), plain reads on a local disk."""
    if not outputs:
        return []
    fs, _ = filesystem(outputs[0])
    paths = [filesystem(sidecar_of(o))[1] for o in outputs]
    if "file" in fs.protocol:
        return [_load_local(p) for p in paths]
    got = fs.cat(paths, on_error="omit")
    return [_parse(got.get(p)) for p in paths]


def _load_local(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            return _parse(f.read())
    except OSError:
        return None


def _parse(data: bytes | None) -> dict | None:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def write(output: str, rec: dict) -> None:
    """Write the sidecar whole (a local temporary file renamed into place; one PUT on S3)."""
    fs, path = filesystem(sidecar_of(output))
    data = json.dumps(rec, indent=1).encode()
    if "file" in fs.protocol:
        from ..formats.atomic import atomic_path

        fs.makedirs(fs._parent(path), exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    else:
        fs.pipe_file(path, data)
