"""Bouncing several files, optionally in parallel worker processes (``panslice bounce -j N``).

A file that fails does not stop the others: each job's outcome (the paths written, or the one-line
error) is reported as it finishes, and the caller decides the exit status. Workers are forked, so
they inherit the jobs (a chain of plugins need not be picklable) and the imported modules; only
the job's index goes to a worker and only paths or an error line come back.
"""

from __future__ import annotations

import multiprocessing
import os
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
    return _outcome(_JOBS[i], True)


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
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = {pool.submit(_work, i): jobs[i] for i in range(len(jobs))}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
    finally:
        _JOBS = ()


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
