"""Bouncing several files, optionally in parallel worker processes (``panslice bounce -j N``).

A file that fails does not stop the others: each job's outcome (the paths written, or the one-line
error) is reported as it finishes, and the caller decides the exit status. Workers are forked, so
they inherit the jobs (a chain of plugins need not be picklable) and the imported modules; only
the job's index goes to a worker and only paths or an error line come back.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterator, Sequence

from ...dsp.errors import PansliceError
from . import bounce

_JOBS: Sequence[bounce.BounceJob] = ()  # what forked workers bounce, by index


def _outcome(job: bounce.BounceJob, quiet: bool) -> list[Path] | str:
    """The paths written, or the error as one line naming the file."""
    try:
        return bounce.run(job, quiet=quiet)
    except PansliceError as e:
        return str(e)
    except Exception as e:  # a bug must not cost the other files their bounce
        return f"{job.input}: failed ({type(e).__name__}: {e})"


def _work(i: int) -> list[Path] | str:
    try:
        return _outcome(_JOBS[i], True)
    except BaseException:  # SIGTERM or Ctrl-C, unwound (temporary files removed): now leave,
        os._exit(1)        # rather than take the pool's next job


def run_many(jobs: Sequence[bounce.BounceJob], workers: int = 1,
             quiet: bool = True) -> Iterator[tuple[bounce.BounceJob, list[Path] | str]]:
    """Bounce ``jobs``; yield ``(job, paths written or error line)`` as each one finishes.

    ``workers`` > 1 runs up to that many jobs at once in forked processes (where the platform
    can fork; elsewhere, and for a single job, they run one after another in this process).
    """
    global _JOBS
    workers = max(1, min(workers, len(jobs)))
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            yield job, _outcome(job, quiet)
        return
    _JOBS = jobs
    _load_kernel()
    ctx = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    try:
        with _sigterm_exits():
            futures = {pool.submit(_work, i): jobs[i] for i in range(len(jobs))}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
    except BaseException:   # SIGTERM, Ctrl-C, a caller that stops: no worker goes on alone
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _JOBS = ()


def _die_with_parent(parent: int) -> None:
    """In a worker: die with the parent, even a parent killed by SIGKILL (Linux's
    PR_SET_PDEATHSIG; a worker that would outlive it keeps a caller's pipe open, and its CPU),
    and end by SIGTERM through Python, so that its temporary files are removed."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still ends us
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextmanager
def _sigterm_exits():
    """In the main thread, SIGTERM unwinds (SystemExit 143) instead of ending the process on
    the spot, so that :func:`run_many` ends its workers and their files are cleaned up."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _load_kernel() -> None:
    """Load the compiled engine kernel here, once, so that every forked worker inherits it
    instead of loading it from numba's cache itself (about 0.3 s each)."""
    import numpy as np

    from ...dsp import Engine

    eng = Engine().prepare(44100, 64)
    eng.process_split(np.zeros((2, 64), np.float32), np.zeros((2, 2, 64), np.float32))


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
