"""The offline render loop: input read block by block through a streaming node, aligned with it.

One loop for every offline render (the engine alone in a bounce, a chain in ``bounce --chain``),
so that they cannot drift apart: parameter changes stamped with input sample positions are
applied exactly there, by cutting the stream at each stamp (a live session applies them the same
way between blocks, so both give the same audio); the end is padded with silence until the
latency has come out, and the latency is dropped, so output sample i is input sample i.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ...dsp.engine import MAX_BLOCK
from ...dsp.params import Change

OFFLINE_BLOCK = MAX_BLOCK   # an offline render's block: the largest the engine takes


def render_stream(read: Callable[[int], np.ndarray], n: int, latency: int,
                  process: Callable[[np.ndarray, np.ndarray], None],
                  emit: Callable[[np.ndarray, int], None], *, outs: int = 1,
                  block: int = OFFLINE_BLOCK, changes: Iterable[Change] = (),
                  apply: Callable[[str, object], None] | None = None,
                  before_block: Callable[[int], None] | None = None,
                  progress: Callable[[int], None] | None = None, dtype=np.float32) -> None:
    """Stream ``n`` input samples, ``read(m)`` giving the next m [shape=(2, m)], through
    ``process(x, out)`` (x (2, m), out (outs, 2, m), m <= ``block``); ``emit(o, lo)`` is given
    the output, without the ``latency``, in order: ``o`` [shape=(outs, 2, k)] is output samples
    lo .. lo + k (a view the loop reuses). Memory is a block's, whatever ``n``. ``x`` has
    ``dtype`` (the input's).

    ``apply(name, value)`` (needed with ``changes``) is called for each of ``changes`` (input
    sample position, name, value) just before that input sample; ``before_block(end)`` before
    each block, with the input position the block ends at; ``progress(done)`` after it, with
    the input samples done.
    """
    total = n + latency
    # Flat buffers: a view of the first m samples is C-contiguous for every m, so a short last
    # block does not make numba load a second compiled specialisation of the kernel (~0.3 s).
    x_buf = np.zeros(2 * block, dtype)
    out_buf = np.zeros(outs * 2 * block, np.float32)
    pending = sorted(changes, key=lambda c: c[0])
    ci = pos = 0
    while pos < total:
        while ci < len(pending) and pending[ci][0] <= pos:
            apply(pending[ci][1], pending[ci][2])
            ci += 1
        end = min(pos + block, total)
        if ci < len(pending):
            end = min(end, max(pending[ci][0], pos + 1))
        m = end - pos
        x = x_buf[:2 * m].reshape(2, m)
        k = max(0, min(end, n) - pos)
        if k:
            x[:, :k] = read(k)
        x[:, k:] = 0.0
        o = out_buf[:outs * 2 * m].reshape(outs, 2, m)
        if before_block is not None:
            before_block(end)
        process(x, o)
        # Output sample j is input sample j - latency: keep those that land inside [0, n).
        lo, hi = max(pos - latency, 0), end - latency
        if hi > lo:
            emit(o[:, :, lo - (pos - latency):hi - (pos - latency)], lo)
        pos = end
        if progress is not None:
            progress(min(pos, n))
