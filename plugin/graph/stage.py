"""The panslice stage: the engine as one step of a chain, with the routing of its two outputs.

Routing is either *gains* (the engine's ``target_gain_db`` / ``rest_gain_db``; the stage returns
their sum) or *split*: the slice and the rest each run through their own sub-chain (reverb on
the vocal only, a compressor on the band only) and are summed back. The branch with less
latency is delayed to match the other, so the sum stays aligned and the stage reports one
latency: the engine's plus the slower branch's.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ...dsp import params as P
from ...dsp.engine import Engine
from ..formats.presets import fft_size_at
from .node import NodeBase, in_pieces
from .ring import Ring


class Stage(NodeBase):
    """panslice inside a :class:`~panslice.plugin.graph.chain.Chain`.

    Parameters
    ----------
    params : mapping or ParamSet, optional
        Engine parameters (registry names).
    target, rest : Chain, optional
        Sub-chains for the slice and for the rest (split routing). Give one or both; an output
        without a sub-chain passes through (delayed to stay aligned with the other).
    preset_fft : float, optional
        The preset's ``fft_size`` when the stage takes it from a preset (not named by the user):
        ``prepare`` then uses it as scaled to the rate (formats/presets.fft_size_at).

    ``set`` changes a parameter between blocks (the engine glides to it); ``levels`` gives the
    RMS of the two outputs over the last block, for meters.
    """

    def __init__(self, params: Mapping[str, object] | P.ParamSet | None = None, *,
                 target=None, rest=None, name: str = "panslice", preset_fft: float | None = None):
        self.engine = Engine(params)
        self.preset_fft = preset_fft
        self.target = target
        self.rest = rest
        self.name = name
        self._parts: np.ndarray | None = None
        self._branch_latency: int | None = None

    @property
    def split(self) -> bool:
        return self.target is not None or self.rest is not None

    @property
    def params(self) -> P.ParamSet:
        return self.engine.params

    def _branches(self):
        return (self.target, self.rest)

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int) -> "Stage":
        """Allocate for ``sample_rate`` and blocks up to ``max_block`` (sub-chains too)."""
        if self.preset_fft is not None:
            self.engine.set_params({"fft_size": fft_size_at(self.preset_fft, sample_rate)})
        self.engine.prepare(sample_rate, max_block)
        # flat buffers: a view of the first n samples is C-contiguous for every n, so the
        # engine's compiled kernel sees one array layout and a short block never compiles anew
        # (a C-contiguous, writeable float32 input has that layout and goes straight in)
        self._x = np.zeros(2 * max_block, np.float32)
        self._parts = np.zeros(4 * max_block, np.float32)
        if self.split:
            lat = [0 if c is None else c.prepare(sample_rate, max_block).latency_samples
                   for c in self._branches()]
            slow = max(lat)
            self._branch_out = np.zeros((2, 2, max_block), np.float32)
            self._align = [Ring(slow - L + max_block, prefill=slow - L) if L < slow else None
                           for L in lat]
            self._branch_latency = slow
        else:
            self._branch_latency = 0
        return self

    def reset(self) -> None:
        """Clear the audio state of the engine, the sub-chains and the alignment delays."""
        self.engine.reset()
        if self.split:
            for c in self._branches():
                if c is not None:
                    c.reset()
            for r in self._align:
                if r is not None:
                    r.clear()

    def close(self) -> None:
        """Stop what the sub-chains run besides the audio thread (ML workers)."""
        for c in self._branches():
            if c is not None:
                c.close()

    @property
    def latency_samples(self) -> int:
        """Output sample i is input sample i - latency_samples."""
        if self._branch_latency is None:
            raise P.ParameterError("stage is not prepared: its sub-chains' latency is not known yet")
        return self.engine.latency_samples + self._branch_latency

    # -- control --------------------------------------------------------------------------------
    def set(self, name: str, value: object) -> None:
        """Set one engine parameter between blocks (validated by the registry)."""
        self.engine.set(name, value)

    def levels(self) -> tuple[float, float]:
        """RMS of (target, rest) over the last block, after the engine's gains."""
        return self.engine.levels()

    # -- audio ----------------------------------------------------------------------------------
    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        """Process ``x`` [shape=(2, n)] into ``out`` (same shape), in ``max_block`` pieces if
        it is longer; allocates no buffers. ``out`` may be ``x`` itself, but not another view
        overlapping it."""
        if x.shape[1] > self.engine.max_block:
            in_pieces(self._process_block, x, out, self.engine.max_block)
        else:
            self._process_block(x, out)

    def _process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[1]
        flags = x.flags
        if flags.c_contiguous and flags.writeable and x.dtype.char == "f":
            xin = x
        else:
            xin = self._x[:2 * n].reshape(2, n)
            xin[...] = x
        if not self.split:
            flags = out.flags
            if flags.c_contiguous and flags.writeable and out.dtype.char == "f" and out is not xin:
                self.engine.process(xin, out)
            else:
                mixed = self._parts[:2 * n].reshape(2, n)
                self.engine.process(xin, mixed)
                out[...] = mixed
            return
        parts = self._parts[:4 * n].reshape(2, 2, n)
        self.engine.process_split(xin, parts)
        for k, chain in enumerate(self._branches()):
            y = self._branch_out[k, :, :n]
            if chain is None:
                y[:] = parts[k]
            else:
                chain.process_block(parts[k], y)
            delay = self._align[k]
            if delay is not None:
                delay.write(y)
                delay.read(y)
        np.add(self._branch_out[0, :, :n], self._branch_out[1, :, :n], out=out)

    def __repr__(self) -> str:
        routing = f", target={self.target!r}, rest={self.rest!r}" if self.split else ""
        return f"Stage({self.engine.params!r}{routing})"

