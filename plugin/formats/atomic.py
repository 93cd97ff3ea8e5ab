"""Whole files or none: every output panslice writes goes through :func:`atomic_path`.

A reader (a DAW watching the folder, the next command of a script) sees either the old file or
the complete new one, never a half-written one; a failure leaves nothing behind. A process killed
outright (SIGKILL, a power cut) cannot clean up, so temporaries are named after their output and
their writer, ``.NAME.PID-XXXXXXXX.partSUFFIX``: the next write of the same output removes those
whose writer is gone. Several outputs that belong together (a set of stems) are published
together with :func:`published_together`, in one rename of their folder where it can be.
"""

from __future__ import annotations

import os
import re
import shutil
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
def published_together(folder: Path | None = None) -> Iterator[None]:
    """Hold back the renames of every :func:`atomic_path` completed inside (in this thread) and
    do them all at the end; if the block fails, none is published.

    With ``folder`` (where they all go: a set of stems) the set appears in one rename where the
    platform allows it, so that even a SIGKILL leaves the whole set or none of it: the files
    are gathered in a hidden folder beside it, ``.NAME.PID-*.part``, which then takes its place
    (an old set that it replaces, ``-y``, is renamed aside first and removed after: killed in
    between, there is no folder, never a mixed one). That needs a folder that is new or holds
    only files of this set, on the same disk as its writable parent. Otherwise (a folder shared
    with other files) the files are renamed in one by one while a marker,
    :data:`MIXED_MARKER`, says the set is mixed: a kill between those renames leaves it, and the
    next set published there removes it."""
    if folder is not None:
        remove_leftovers(Path(folder))
    _batch.pending = pending = []
    try:
        yield
        if folder is None or not _swappable(Path(folder), pending):
            _rename_all(pending, None if folder is None else Path(folder) / MIXED_MARKER)
        else:
            _swap_in(Path(folder), pending)
    except BaseException:
        for tmp, _ in pending:
            _unlink(tmp)
        raise
    finally:
        _batch.pending = None


MIXED_MARKER = ".panslice-set-incomplete"   # in a folder while a set is renamed in file by file


def _rename_all(pending: list, marker: Path | None) -> None:
    if marker is not None:
        with open(marker, "w") as f:
            f.write(f"{os.getpid()}: publishing {', '.join(p.name for _, p in pending)}\n")
            f.flush()
            os.fsync(f.fileno())
    while pending:
        os.replace(*pending[0])
        pending.pop(0)
    if marker is not None:
        _unlink(marker)


def _swappable(folder: Path, pending: list) -> bool:
    """Whether ``folder`` can be replaced by a folder of the set as a whole (see above)."""
    ours = {p.name for _, p in pending} | {Path(t).name for t, _ in pending} | {MIXED_MARKER}
    where, cwd = os.path.abspath(folder), os.getcwd()
    if folder.is_symlink() or cwd == where or cwd.startswith(where.rstrip(os.sep) + os.sep):
        return False    # a link stays a link; the working folder is never moved
    parent = os.path.dirname(where)
    try:
        return (set(os.listdir(folder)) <= ours and os.access(parent, os.W_OK | os.X_OK)
                and os.stat(parent).st_dev == os.stat(folder).st_dev)
    except OSError:
        return False


def _swap_in(folder: Path, pending: list) -> None:
    """Gather the set in a hidden folder beside ``folder``, then rename it to ``folder``."""
    parent = folder.parent if str(folder.parent) else Path(".")

    def hidden() -> Path:   # a leftover name (see remove_leftovers), an empty folder for now
        return Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}-", suffix=f".part{folder.suffix}",
                                     dir=parent))

    stage, old = hidden(), None
    try:
        while pending:
            tmp, p = pending[0]
            os.replace(tmp, stage / p.name)
            pending.pop(0)
        os.chmod(stage, os.stat(folder).st_mode & 0o7777)
        try:
            os.rename(stage, folder)        # over an empty folder: one step
        except OSError:
            old = hidden()
            os.rename(folder, old)          # over that empty folder
            os.rename(stage, folder)
    except BaseException:
        if old is not None and not folder.exists():
            os.rename(old, folder)          # the old set back where it was
        elif old is not None:
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
            if os.path.isdir(folder / name) and not os.path.islink(folder / name):
                shutil.rmtree(folder / name, ignore_errors=True)   # a set's folder (published_together)
            else:
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
