"""The chain: pedalboard plugins (built-ins, a ``Pedalboard``, VST3) and panslice stages, in order.

``Chain.process(audio, sample_rate, reset=True)`` follows pedalboard's ``Plugin.process``:
with ``reset=True`` the state is cleared and the whole buffer comes back aligned with the
input (the chain's latency removed); with ``reset=False`` it streams on from the last call.
One difference, on purpose: streaming always returns as many samples as it was given, delayed
by ``latency_samples``. A pedalboard plugin with latency returns *fewer* samples than it was
given until its buffer fills, so every plugin runs behind a small FIFO primed with its latency
(measured once, in ``prepare``); a live loop needs n samples out for n in.

Blocks never change the result: streaming a file block by block equals processing it whole
(for plugins that are deterministic), which is what makes a bounce of a live session exact.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ...dsp.engine import MAX_BLOCK
from ...dsp.errors import PansliceError
from ...dsp.params import Change
from ..formats.audiostream import ArraySource
from .node import NodeBase, in_pieces
from .render import OFFLINE_BLOCK, render_stream
from .ring import Ring
from .stage import Stage

PROBE_BLOCK = 64          # probe with a small block too: some plugins hold back more then
PROBE_LIMIT_S = 10.0      # a plugin that returns nothing for this long cannot stream
PROBE_STEADY_BLOCKS = 4   # full blocks in a row that end a latency probe


class ChainError(PansliceError):
    """A chain that cannot be built or run (a bad step, a plugin that will not stream)."""


def plugin_name(plugin) -> str:
    return getattr(plugin, "name", None) or type(plugin).__name__


def _restart(plugin, sample_rate: float, primer: np.ndarray) -> int:
    """Reset ``plugin`` and run one block of silence of the largest size any chain uses.

    After a reset pedalboard forgets the channel axis ((2, 1) then reads as one channel of two
    samples) and prepares the plugin for the size of the first block, clearing its state when
    a later block is larger. The primer settles both before any audio; its output is skipped.
    It is always MAX_BLOCK long, so plugins with an LFO start at the same phase whatever the
    block size. Returns how many primer samples are still to come out (and be skipped).
    """
    plugin.reset()
    return primer.shape[1] - plugin.process(primer, sample_rate, reset=False).shape[1]


def _probe_latency(plugin, sample_rate: float, primer: np.ndarray, block: int) -> int:
    """Feed silence in ``block``-sized pieces until the plugin returns full blocks several
    times in a row; the most samples it ever held back is what its FIFO must cover."""
    silence = np.zeros((2, block), np.float32)
    owed = _restart(plugin, sample_rate, primer)
    fed = out = held = steady = 0
    while steady < PROBE_STEADY_BLOCKS:
        if fed > PROBE_LIMIT_S * sample_rate:
            raise ChainError(f"{plugin_name(plugin)}: returned no steady output after "
                             f"{PROBE_LIMIT_S:g} s of input; it cannot run in a stream")
        got = plugin.process(silence, sample_rate, reset=False).shape[1]
        fed += block
        skipped = min(owed, got)
        owed -= skipped
        out += got - skipped
        held = max(held, fed - out)
        steady = steady + 1 if got == block else 0
    return held


class _PluginNode(NodeBase):
    """A pedalboard plugin that returns n samples for n in, ``latency_samples`` late.

    Should the plugin ever hold back more than the probe saw, the gap is filled with silence
    (counted in ``dropouts``) and as many late samples are skipped when they come, so the
    latency never changes mid-stream.
    """

    def __init__(self, plugin):
        self.plugin = plugin
        self.latency_samples = 0
        self.dropouts = 0

    def prepare(self, sample_rate: float, max_block: int) -> "_PluginNode":
        self.sample_rate = float(sample_rate)
        self._primer = np.zeros((2, MAX_BLOCK), np.float32)
        lat = max(_probe_latency(self.plugin, sample_rate, self._primer, b)
                  for b in {min(PROBE_BLOCK, max_block), max_block})
        self.latency_samples = lat
        self._fifo = Ring(lat + 2 * max_block, prefill=lat)
        self.reset()
        return self

    def reset(self) -> None:
        self._owed = _restart(self.plugin, self.sample_rate, self._primer)
        self._fifo.clear()

    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[1]
        y = self.plugin.process(x, self.sample_rate, reset=False)
        fifo = self._fifo
        skip = min(self._owed, y.shape[1])
        self._owed -= skip
        fifo.write(y[:, skip:])
        have = fifo.available
        if have >= n:
            fifo.read(out)
        else:
            fifo.read(out[:, :have])
            out[:, have:] = 0.0
            self._owed += n - have
            self.dropouts += n - have


class Chain(NodeBase):
    """An ordered list of steps: pedalboard plugins and panslice :class:`Stage` objects
    (a ``Chain`` may also hold a ``Chain``). ``steps`` is a plain list; the chain prepares
    itself again when it changes.
    """

    def __init__(self, steps: Iterable[object] = ()):
        self.steps = list(steps)
        self.sample_rate = 0.0
        self.max_block = 0
        self._nodes: list | None = None
        self._built_from: list[int] = []

    # -- structure ------------------------------------------------------------------------------
    @property
    def stages(self) -> list[Stage]:
        """Every panslice stage in order, those inside split sub-chains included."""
        found = []
        for s in self.steps:
            if isinstance(s, Stage):
                found.append(s)
                for sub in (s.target, s.rest):
                    if sub is not None:
                        found += sub.stages
            elif isinstance(s, Chain):
                found += s.stages
        return found

    def set(self, name: str, value: object) -> None:
        """Set an engine parameter on every panslice stage (between blocks)."""
        stages = self.stages
        if not stages:
            raise ChainError(f"cannot set {name}: this chain has no panslice stage")
        for st in stages:
            st.set(name, value)

    @property
    def dropouts(self) -> int:
        """Samples of silence put in because a plugin held back more than its probed latency."""
        total = 0
        for nd in self._nodes or ():
            if isinstance(nd, _PluginNode):
                total += nd.dropouts
            elif isinstance(nd, Chain):
                total += nd.dropouts
            else:
                total += sum(c.dropouts for c in (nd.target, nd.rest) if c is not None)
        return total

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int = OFFLINE_BLOCK) -> "Chain":
        """Allocate every step for ``sample_rate`` and blocks up to ``max_block``, measure the
        latency of each pedalboard plugin and run one block of silence through it all (so the
        first block of a live session does not pay for compiling). Not real-time safe."""
        import pedalboard

        if not 1 <= max_block <= MAX_BLOCK:
            raise ChainError(f"max_block={max_block} is out of range (valid: 1 .. {MAX_BLOCK})")
        nodes = []
        for i, s in enumerate(self.steps, 1):
            if isinstance(s, (Stage, Chain)):
                nodes.append(s.prepare(sample_rate, max_block))
            elif isinstance(s, pedalboard.Plugin):
                nodes.append(_PluginNode(s).prepare(sample_rate, max_block))
            else:
                raise ChainError(f"chain step {i} is a {type(s).__name__}, not a pedalboard "
                                 "plugin or a panslice stage")
        self._nodes = nodes
        self._built_from = [id(s) for s in self.steps]
        self.sample_rate = float(sample_rate)
        self.max_block = int(max_block)
        self._pingpong = np.zeros((2, 2, max_block), np.float32)
        # one block of silence compiles and touches everything now, not in the first live block
        silence = np.zeros((2, max_block), np.float32)
        self.process_block(silence, silence.copy())
        self.reset()
        return self

    def _require(self) -> None:
        if self._nodes is None:
            raise ChainError("chain is not prepared: call prepare(sample_rate, max_block) first")
        if self._built_from != [id(s) for s in self.steps]:
            raise ChainError("chain steps changed since prepare: call prepare again")

    def reset(self) -> None:
        """Clear the audio state of every step (as after ``prepare``)."""
        self._require()
        for nd in self._nodes:
            nd.reset()

    def close(self) -> None:
        """Stop what any step runs besides the audio thread (ML workers); idempotent."""
        for nd in self._nodes or ():
            nd.close()

    @property
    def latency_samples(self) -> int:
        """Total latency: output sample i is input sample i - latency_samples."""
        self._require()
        return sum(nd.latency_samples for nd in self._nodes)

    # -- audio ----------------------------------------------------------------------------------
    def process_block(self, x: np.ndarray, out: np.ndarray) -> None:
        """Stream one block [shape=(2, n)] into ``out``, in ``max_block`` pieces if it is
        longer; no buffers allocated here (pedalboard plugins allocate their own outputs)."""
        n = x.shape[1]
        if n > self.max_block and self._nodes:
            in_pieces(self.process_block, x, out, self.max_block)
            return
        if not self._nodes:
            out[:] = x
            return
        src = x
        last = len(self._nodes) - 1
        for i, nd in enumerate(self._nodes):
            dst = out if i == last else self._pingpong[i % 2, :, :n]
            nd.process_block(src, dst)
            src = dst

    def process(self, audio: np.ndarray, sample_rate: float, buffer_size: int = OFFLINE_BLOCK,
                reset: bool = True) -> np.ndarray:
        """pedalboard-style call: ``audio`` [shape=(2, n)] in, float32 (2, n) out.

        reset=True: clear the state, return the whole buffer aligned with the input.
        reset=False: stream on from the previous call; the output is ``latency_samples`` late.
        """
        x = _as_stereo(audio)
        if reset:
            return self.render(x, sample_rate, buffer_size=buffer_size)
        if self._nodes is None or self._built_from != [id(s) for s in self.steps]:
            self.prepare(sample_rate, buffer_size)
        elif sample_rate != self.sample_rate:
            raise ChainError(f"sample rate changed from {self.sample_rate:g} to {sample_rate:g} Hz "
                             "while streaming; call with reset=True")
        out = np.empty_like(x)
        self.process_block(x, out)
        return out

    __call__ = process

    def render(self, audio: np.ndarray, sample_rate: float, *, changes: Iterable[Change] = (),
               progress: Callable[[int], None] | None = None,
               buffer_size: int = OFFLINE_BLOCK) -> np.ndarray:
        """Offline render from a clean state: the whole of ``audio`` [shape=(2, n)], aligned
        with it (latency removed), same length.

        ``changes`` (input sample position, parameter, value) are applied to the panslice
        stages exactly before that input sample, by cutting the stream there; a live session
        applies them the same way between blocks, so both give the same audio.
        ``progress`` gets the number of input samples done after each block.
        """
        x = _as_stereo(audio)
        result = np.zeros((2, x.shape[1]), np.float32)

        def keep(o: np.ndarray, lo: int) -> None:
            result[:, lo:lo + o.shape[2]] = o[0]

        self.render_stream(x.shape[1], ArraySource(x, sample_rate).read, sample_rate, keep,
                           changes=changes, progress=progress, buffer_size=buffer_size)
        return result

    def render_stream(self, n: int, read: Callable[[int], np.ndarray], sample_rate: float,
                      emit: Callable[[np.ndarray, int], None], *, changes: Iterable[Change] = (),
                      progress: Callable[[int], None] | None = None,
                      buffer_size: int = OFFLINE_BLOCK) -> None:
        """:meth:`render` of ``n`` samples that ``read(m)`` gives in order, the output going to
        ``emit(o, lo)`` as it comes (see render.render_stream): memory flat in ``n``."""
        if (self._nodes is None or self._built_from != [id(s) for s in self.steps]
                or sample_rate != self.sample_rate or self.max_block < buffer_size):
            self.prepare(sample_rate, buffer_size)
        else:
            self.reset()
        render_stream(read, n, self.latency_samples, lambda x, o: self.process_block(x, o[0]),
                      emit, block=self.max_block, changes=changes, apply=self.set,
                      progress=progress)

    def __repr__(self) -> str:
        return f"Chain({self.steps!r})"


def _as_stereo(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    if a.ndim != 2 or a.shape[0] != 2:
        raise ChainError(f"audio must have shape (2, n), got {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        raise ChainError(f"audio must be float32 or float64, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)
