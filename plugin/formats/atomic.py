"""Whole files or none: every output panslice writes goes through :func:`atomic_path`.

A reader (a DAW watching the folder, the next command of a script) sees either the old file or
the complete new one, never a half-written one; a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike,
                check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (hidden, same suffix, so writers that go by the
    suffix pick the right format) to write into; on success rename it over ``path``, on any
    error remove it. The file gets the permissions a plain ``open`` would give it.

    Before the rename the file is flushed to the disk (``fsync``: a full disk or an I/O error
    some filesystems report only then raises here) and ``check(tmp)`` may refuse it: a writer
    that swallows a write error (pedalboard's ogg on a full disk) is caught by reading back."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=f".part{p.suffix}", dir=p.parent or ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        _flush(tmp)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _flush(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
