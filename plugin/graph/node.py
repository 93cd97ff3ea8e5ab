"""The contract of a graph node: what a chain asks of each step and a host asks of a chain.

It is JUCE's ``AudioProcessor`` (and nih-plug's ``Plugin``) cut down: ``prepare`` once for a
sample rate and a largest block, then ``process_block`` any number of times, allocating
nothing; ``reset`` clears the audio state; ``latency_samples`` says how late the output is.
:class:`NodeBase` gives the optional members their defaults, so a host asks every node the
same questions instead of probing which ones it answers.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class Node(Protocol):
    """A streaming stereo processor in a chain (a :class:`Stage`, a chain, a wrapped plugin)."""

    def prepare(self, sample_rate: float, max_block: int) -> "Node":
        """Allocate for ``sample_rate`` and blocks up to ``max_block``; not real-time safe."""

    def reset(self) -> None:
        """Clear the audio state (as just after ``prepare``)."""

    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        """Stream ``x`` [shape=(2, n)] into ``out`` (same shape), any n >= 0: a block longer
        than ``max_block`` is processed in ``max_block`` pieces. Allocates no buffers."""

    @property
    def latency_samples(self) -> int:
        """Output sample i is input sample i - latency_samples."""

    # -- optional: NodeBase has the defaults ---------------------------------------------------
    missed: int | None   # ML look-ahead: frames processed without their row (None: no ML prior)
    error: Exception | None   # what stopped a helper thread of the node, if anything did

    def close(self) -> None:
        """Stop whatever the node runs besides the audio thread (a worker); idempotent."""

    def describe(self) -> list[str]:
        """Lines saying what the node adds to a session, for its start (after ``prepare``)."""

    def report(self) -> list[str]:
        """Lines saying how the node did, for the end of a session."""


class NodeBase:
    """The defaults of :class:`Node`'s optional members: nothing to stop, nothing to say."""

    missed: int | None = None
    error: Exception | None = None

    def close(self) -> None:
        pass

    def describe(self) -> list[str]:
        return []

    def report(self) -> list[str]:
        return []


def in_pieces(process: Callable[[np.ndarray, np.ndarray], None], x: np.ndarray, out: np.ndarray,
              max_block: int) -> None:
    """Run ``process`` on ``x`` and ``out`` in pieces of at most ``max_block`` samples (views:
    no buffers allocated): hosts may give a plugin a block larger than it was prepared for.
    With ``out`` being ``x``, each piece is processed in place too."""
    n = x.shape[1]
    for pos in range(0, n, max_block):
        piece = x[:, pos:pos + max_block]
        process(piece, piece if out is x else out[:, pos:pos + max_block])
