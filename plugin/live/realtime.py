"""Real-time scheduling for the audio thread, as JACK and other pro-audio hosts ask for it.

SCHED_FIFO: no ordinary process preempts a block half-way. Locked memory (``mlockall``): no
page of the process is reclaimed, so a block never waits on a page fault. Both need privileges
(root, CAP_SYS_NICE / CAP_IPC_LOCK, or rtprio / memlock limits); without them the loop runs at
normal priority and :func:`audio_thread` says so in one line. Memory is locked only where no
limit applies (CAP_IPC_LOCK, or an unlimited memlock limit): under a finite one ``MCL_FUTURE``
would make later allocations fail.
"""

from __future__ import annotations

import ctypes
import os
import resource
from contextlib import contextmanager
from typing import Iterator

PRIORITY = 70            # SCHED_FIFO priority of the audio thread (the kernel keeps 99 for itself)
MCL_CURRENT, MCL_FUTURE = 1, 2
CAP_IPC_LOCK = 14


@contextmanager
def audio_thread(priority: int = PRIORITY, lock_memory: bool = True) -> Iterator[str]:
    """Run the calling thread at SCHED_FIFO ``priority`` with the process's memory locked
    (faulting it all in takes a moment), for the ``with`` block; yields a line saying what was
    granted. Restores both after."""
    notes = []
    old = None
    try:
        old = (os.sched_getscheduler(0), os.sched_getparam(0))
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        notes.append(f"SCHED_FIFO priority {priority}")
    except (AttributeError, OSError) as e:
        old = None
        notes.append(f"normal priority (SCHED_FIFO not permitted: {_why(e)})")
    libc = _libc()
    locked = False
    if lock_memory:
        if libc is None:
            notes.append("memory not locked (no mlockall here)")
        elif not _may_lock_all():
            notes.append("memory not locked (the memlock limit is finite)")
        elif libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
            notes.append(f"memory not locked ({os.strerror(ctypes.get_errno())})")
        else:
            locked = True
            notes.append("memory locked")
    try:
        yield ", ".join(notes)
    finally:
        if locked:
            libc.munlockall()
        if old is not None:
            os.sched_setscheduler(0, old[0], old[1])


def _may_lock_all() -> bool:
    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] == resource.RLIM_INFINITY:
        return True
    try:
        with open("/proc/self/status") as f:
            caps = next(line for line in f if line.startswith("CapEff:"))
        return bool(int(caps.split()[1], 16) >> CAP_IPC_LOCK & 1)
    except (OSError, StopIteration, ValueError):
        return False


def _libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "mlockall") else None
    except OSError:
        return None


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or type(e).__name__
