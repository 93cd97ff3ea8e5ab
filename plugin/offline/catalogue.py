"""What a batch is asked to do: INPUTS (files, folders, CSV manifests; paths or fsspec URLs)
turned into one :class:`Item` per audio file, each with the folder-relative name its output is
called after and a fingerprint (size and modification stamp) for the cheap skip check.

Everything goes through fsspec, so ``s3://bucket/catalogue/`` lists like a local folder, and
one listing call per folder gives every file's fingerprint (no request per file).
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass

from ...dsp.errors import PansliceError

AUDIO_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".mp3", ".ogg")


class CatalogueError(PansliceError):
    """An input that names nothing to bounce, or a manifest that cannot be read."""


@dataclass(frozen=True)
class Item:
    """One input file: its URL (or local path), the name its output is derived from (the path
    below the folder it was found in, without extension), the manifest's own output and preset
    when it gave them, and the listing's fingerprint."""

    input: str
    name: str
    fingerprint: str
    output: str | None = None
    preset: str | None = None


def filesystem(url: str):
    """``(fs, path)`` for a path or URL; plain paths are local files."""
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def join(base: str, *parts: str) -> str:
    """``base`` / parts, for a local path or a URL alike (URLs always use '/')."""
    if "://" in base:
        return posixpath.join(base.rstrip("/"), *parts)
    import os

    return os.path.join(base, *parts)


def fingerprint(info: dict) -> str:
    """Size and the store's change stamp (mtime locally, the ETag on S3, ...) from an fsspec
    ``info`` dict: a changed file gets a new one without its bytes being read."""
    stamp = next((info[k] for k in ("ETag", "etag", "md5Hash", "mtime", "LastModified", "updated")
                  if info.get(k) is not None), "")
    return f"{info.get('size')}:{stamp}"


def expand(inputs: list[str]) -> list[Item]:
    """Every audio file named by ``inputs``, in order, each once."""
    items: list[Item] = []
    for spec in inputs:
        if spec.lower().endswith(".csv"):
            items += _manifest(spec)
        else:
            items += _files(spec)
    seen, unique = set(), []
    for it in items:
        if it.input not in seen:
            seen.add(it.input)
            unique.append(it)
    return unique


def _files(spec: str) -> list[Item]:
    fs, path = filesystem(spec)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise CatalogueError(f"{spec}: no such file or folder") from None
    if info["type"] != "directory":
        return [Item(spec, _stem(posixpath.basename(path)), fingerprint(info))]
    found = fs.find(path, detail=True)
    root = path.rstrip("/") + "/"
    items = []
    for p in sorted(found):
        if not p.lower().endswith(AUDIO_EXTENSIONS) or posixpath.basename(p).startswith("."):
            continue
        rel = p[len(root):] if p.startswith(root) else posixpath.basename(p)
        items.append(Item(_url(spec, fs, p), _stem(rel), fingerprint(found[p])))
    if not items:
        raise CatalogueError(f"{spec}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
    return items


def _manifest(spec: str) -> list[Item]:
    """A CSV with a header: ``input`` (required), ``output`` and ``preset`` (optional, may be
    empty). Relative paths are relative to the manifest's folder."""
    fs, path = filesystem(spec)
    try:
        text = fs.cat_file(path).decode("utf-8-sig")
    except (FileNotFoundError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{spec}: cannot read the manifest ({type(e).__name__})") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "input" not in rows[0]:
        raise CatalogueError(f"{spec}: a manifest needs a header row with an 'input' column")
    base = spec[:spec.rstrip("/").rfind("/") + 1] if "/" in spec else ""
    items = []
    for n, row in enumerate(rows, start=2):
        src = (row.get("input") or "").strip()
        if not src:
            raise CatalogueError(f"{spec}: line {n}: no input")
        src = src if "://" in src or src.startswith("/") else base + src
        out = (row.get("output") or "").strip() or None
        if out and "://" not in out and not out.startswith("/"):
            out = base + out
        it = _files(src)
        if len(it) != 1:
            raise CatalogueError(f"{spec}: line {n}: {src} is a folder; a manifest names files")
        items.append(Item(it[0].input, it[0].name, it[0].fingerprint, out,
                          (row.get("preset") or "").strip() or None))
    return items


def _stem(rel: str) -> str:
    return posixpath.splitext(rel)[0]


def _url(spec: str, fs, path: str) -> str:
    """``path`` as found by ``fs.find``, written the way ``spec`` was (URL or plain path)."""
    if "://" not in spec:
        return path
    return fs.unstrip_protocol(path)
