"""Whole files or none: every output panslice writes goes through :func:`atomic_path`.

A reader (a DAW watching the folder, the next command of a script) sees either the old file or
the complete new one, never a half-written one; a failure leaves nothing behind. A process killed
outright (SIGKILL, a power cut) cannot clean up, so temporaries are named after their output and
their writer, ``.NAME.PID-XXXXXXXX.partSUFFIX``: the next write of the same output removes those
whose writer is gone. Several outputs that belong together (a set of stems) are published
together with :func:`published_together`.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

_batch = threading.local()   # the renames a published_together block holds back


@contextmanager
def atomic_path(path: str | os.PathLike, check: Callable[[Path], None] | None = None,
                sweep: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (hidden, same suffix, so writers that go by the
    suffix pick the right format) to write into; on success rename it over ``path``, on any
    error remove it. The file gets the permissions a plain ``open`` would give it.

    Before the rename the file is flushed to the disk (``fsync``: a full disk or an I/O error
    some filesystems report only then raises here) and ``check(tmp)`` may refuse it: a writer
    that swallows a write error (pedalboard's ogg on a full disk) is caught by reading back.
    ``sweep`` first removes the temporaries a killed writer of ``path`` left (not for a live
    recording, whose killed take is worth keeping)."""
    p = Path(path)
    if sweep:
        remove_leftovers(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}-", suffix=f".part{p.suffix}",
                               dir=p.parent or ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        _flush(tmp)
        if check is not None:
            check(Path(tmp))
        pending = getattr(_batch, "pending", None)
        if pending is None:
            os.replace(tmp, p)
        else:
            pending.append((tmp, p))
    except BaseException:
        _unlink(tmp)
        raise


@contextmanager
def published_together() -> Iterator[None]:
    """Hold back the renames of every :func:`atomic_path` completed inside (in this thread) and
    do them all at the end, one after another; if the block fails, none is published."""
    _batch.pending = pending = []
    try:
        yield
        while pending:
            os.replace(*pending.pop(0))
    except BaseException:
        for tmp, _ in pending:
            _unlink(tmp)
        raise
    finally:
        _batch.pending = None


def remove_leftovers(path: Path) -> list[Path]:
    """Remove the temporaries of ``path`` whose writing process is gone; returns them."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)-[a-z0-9_]+"
                         + re.escape(f".part{path.suffix}"))
    removed = []
    folder = path.parent if str(path.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if m and not _alive(int(m.group(1))):
            _unlink(folder / name)
            removed.append(folder / name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _flush(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
