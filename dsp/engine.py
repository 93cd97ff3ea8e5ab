"""The separation engine: a streaming processor shaped like a JUCE AudioProcessor.

Lifecycle: ``prepare(sample_rate, max_block)`` allocates everything; ``process`` takes blocks of
any size (including 0 and more than ``max_block``); ``reset`` clears the audio state and never
allocates; ``latency_samples`` is exact. Prepared for blocks shorter than a hop (a live loop),
the engine spreads each frame's work over the blocks of the next hop, so that no block carries a
whole frame, for one hop more latency (see ``stream.py``). Parameter changes (``set``) arrive
between blocks and glide inside the engine, one hop at a time, so the same changes give the same
audio live and offline.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from . import params as P
from . import regions
from .errors import ParameterError
from .mask import bin_frequencies
from .stream import (KNOB_SLOTS, ST_FRAMES, ST_POS, ST_STAGE, Buffers, Sizes, process_batched,
                     process_spread)

MIN_SAMPLE_RATE = 8000.0
MAX_SAMPLE_RATE = 192000.0
MAX_BLOCK = 8192


def _kernel_value(p: P.Param, value: float) -> float:
    """Registry units -> kernel units (dB become linear amplitude; -inf becomes 0)."""
    if p.scale == "db":
        return 0.0 if value == P.NEG_INF else 10.0 ** (value / 20.0)
    return value


def _knob_index() -> np.ndarray:
    """The registry index of each knob the kernel reads, in its slot order."""
    return np.array([P.INDEX[name] for _, name in KNOB_SLOTS], np.int64)


class Engine:
    """Stereo slice separator.

    Parameters
    ----------
    params : mapping or ParamSet, optional
        Initial values (registry names); everything else takes its default.
    unity : bool
        Ignore every gain (target, rest, bands): outputs are the bare slice and its complement,
        which always sum to the input. This is how stems are rendered.

    Real-time safe: ``process`` with ``out=`` given, ``reset`` and ``set`` of a live parameter
    allocate nothing and never wait. ``prepare`` allocates and is not real-time safe.
    """

    def __init__(self, params: Mapping[str, object] | P.ParamSet | None = None, *, unity: bool = False):
        self.params = params.copy() if isinstance(params, P.ParamSet) else P.ParamSet(params)
        self.unity = unity
        self.sample_rate = 0.0
        self.max_block = 0
        self._buf: Buffers | None = None
        self._spread = False
        self._kernel = process_batched
        self._edit_rows = np.zeros((0, regions.R_COLS))
        self._prior: tuple[np.ndarray, int] | None = None
        self._unity_held = False
        self._published = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int = 4096) -> "Engine":
        """Allocate for ``sample_rate`` (8 to 192 kHz) and blocks up to ``max_block``."""
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise ParameterError(
                f"sample rate {sample_rate:g} Hz is not supported (valid: 8000 .. 192000 Hz)")
        if not 1 <= max_block <= MAX_BLOCK:
            raise ParameterError(f"max_block={max_block} is out of range (valid: 1 .. {MAX_BLOCK})")
        self.sample_rate = float(sample_rate)
        self.max_block = int(max_block)
        n = self.fft_size
        hop = self.hop
        self._spread = self.max_block < hop
        self._kernel = process_spread if self._spread else process_batched
        b = Buffers(Sizes(n, hop, n // 2 + 1, len(P.REGISTRY), P.MAX_BANDS, self._published),
                    _knob_index(), bin_frequencies(n, sample_rate), self.unity)
        # sqrt-Hann analysis and synthesis windows; their product summed over the hops is 1.
        hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
        b.wa[:] = np.sqrt(hann)
        b.ws[:] = np.sqrt(hann) * (2.0 / self.overlap)
        for p in P.REGISTRY:
            b.targets[p.index] = self._target(p, self.params[p.name])
            tau = p.smoothing_ms * 1e-3
            b.glide[p.index] = 1.0 - np.exp(-hop / (tau * sample_rate)) if tau > 0 else 1.0
        self._buf = b
        b.edits = regions.to_kernel(self._edit_rows, sample_rate)
        if self._prior is not None and self._prior[0].shape[1] == n // 2 + 1:
            b.prior, b.prior_at[0] = self._prior
        b.reset()
        return self

    def reset(self) -> None:
        """Clear the audio state (as after ``prepare``); parameters jump to their targets."""
        self._require()
        self._buf.reset()

    def publish_frames(self, frames: int = 16) -> None:
        """Opt in (``frames`` > 0) or out (0) to publishing each analysed frame's power and
        azimuth per bin into a ring of the last ``frames`` frames, which a
        :class:`~panslice.dsp.frames.FrameReader` copies out: the studio's picture is drawn from
        what the engine sees, not from a second FFT. The audio is the same either way; opted
        out, the kernel skips it. Allocates (prepares the engine again if it was prepared):
        call before the audio runs."""
        if not 0 <= frames <= 1024:
            raise ParameterError(f"frames={frames} is out of range (valid: 0 .. 1024)")
        self._published = int(frames)
        if self._buf is not None:
            self.prepare(self.sample_rate, self.max_block)

    @property
    def published(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(ring [shape=(frames, 2, fft_size//2 + 1)]: each slot a frame's power
        ``|L|^2 + |R|^2`` and azimuth per bin, the frame count [shape=(1,)]: frame ``f`` is in
        slot ``f % frames``), or None when not publishing. The count survives ``reset``, not
        ``prepare``, which makes a new ring."""
        b = self._buf
        return None if b is None or self._published == 0 else (b.published, b.published_count)

    @property
    def fft_size(self) -> int:
        return int(self.params["fft_size"])

    @property
    def overlap(self) -> int:
        return int(self.params["overlap"])

    @property
    def hop(self) -> int:
        return self.fft_size // self.overlap

    @property
    def spread(self) -> bool:
        """Whether each frame's work is spread over the next hop (prepared with
        ``max_block < hop``)."""
        return self._spread

    @property
    def latency_samples(self) -> int:
        """Output sample i is input sample i - latency_samples: one frame less one sample, and
        one hop more when the engine spreads its work."""
        return self.fft_size - 1 + (self.hop if self._spread else 0)

    @property
    def frames_processed(self) -> int:
        """Frames analysed (their ML prior row read) since ``prepare``/``reset``."""
        self._require()
        return int(self._buf.state[ST_FRAMES])

    @property
    def frames_completed(self) -> int:
        """Frames whose last input sample has arrived: those analysed, and (spread) the one
        whose analysis is still to come."""
        self._require()
        return self.frames_processed + (1 if 1 <= self._buf.state[ST_STAGE] <= 2 else 0)

    def levels(self) -> tuple[float, float]:
        """RMS of (target, rest) over the last block, after the gains (0.0 before any block)."""
        self._require()
        lt, lr, n = self._buf.levels
        return (math.sqrt(lt / (2 * n)), math.sqrt(lr / (2 * n))) if n > 0 else (0.0, 0.0)

    def samples_to_next_frame(self) -> int:
        """How many more input samples until the next frame is analysed (1 .. hop)."""
        self._require()
        return self.hop - int(self._buf.state[ST_POS])

    # -- parameters -----------------------------------------------------------------------------
    def set(self, name: str, value: object) -> None:
        """Set one parameter; live values glide from the next hop on."""
        p = P.get(name)
        v = p.validate(value)
        if not p.live and self._buf is not None and v != self.params[name]:
            raise ParameterError(f"{name} cannot change while running; prepare the engine again")
        self.params.update({name: v})
        if self._buf is not None:
            self._buf.targets[p.index] = self._target(p, v)

    def hold_gains_at_unity(self, on: bool) -> None:
        """While ``on``, every gain (target, rest, bands) plays at 0 dB, gliding there, and
        ``params`` keeps the values set: a monitor's solo hears the slice even at a gain of
        -inf. Off, the gains glide back to ``params``. Between blocks."""
        self._unity_held = bool(on)
        if self._buf is not None:
            for p in P.REGISTRY:
                if p.name.endswith("gain_db"):
                    self._buf.targets[p.index] = self._target(p, self.params[p.name])

    def _target(self, p: P.Param, value: float) -> float:
        """What the kernel glides ``p`` to: its value, or 1.0 for a gain held at unity."""
        return 1.0 if self._unity_held and p.name.endswith("gain_db") else _kernel_value(p, value)

    def set_params(self, values: Mapping[str, object]) -> None:
        """Set several parameters at once; nothing changes if any value is bad."""
        trial = self.params.copy()
        trial.update(values)
        for name in values:
            self.set(name, trial[name])

    def set_edits(self, rows: np.ndarray) -> None:
        """Hand-edit regions, one row each in the column order of ``regions.R_*``: start and
        end (s), fade (s), low and high frequency (Hz), low and high azimuth, target and rest
        gain (dB, -inf allowed), move (+1 into the target, -1 into the rest, 0 none). Times
        count input samples since ``prepare``/``reset``.
        An empty array removes every edit. Validated and converted here, not per block."""
        rows = np.array(rows, np.float64)
        if rows.size == 0:
            rows = np.zeros((0, regions.R_COLS))
        kernel = regions.to_kernel(rows, self.sample_rate or 1.0)
        self._edit_rows = rows
        if self._buf is not None:
            self._buf.edits = kernel

    def set_prior(self, rows: np.ndarray, start_frame: int = 0) -> None:
        """The ML prior: vocal-mask rows (0..1) [shape=(R, fft_size//2 + 1)] for frames
        ``start_frame`` .. ``start_frame + R`` (frames count from ``prepare``/``reset``; frame F
        covers input samples ``[(F+1)*hop - fft_size, (F+1)*hop)``). ``ml_prior`` sets how much
        they shape the slice; frames outside them use the azimuth mask alone. Call between
        blocks (it converts ``rows`` once; the kernel then reads them without copying)."""
        rows = np.ascontiguousarray(rows, np.float32)
        nb = self.fft_size // 2 + 1
        if rows.ndim != 2 or rows.shape[1] != nb:
            raise ParameterError(f"prior rows must have shape (R, {nb}), got {rows.shape}")
        self._prior = (rows, int(start_frame))
        if self._buf is not None:
            self._buf.prior = rows
            self._buf.prior_at[0] = int(start_frame)

    # -- audio ----------------------------------------------------------------------------------
    def process(self, audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process one block and return the mixed output ``target + rest`` [shape=(2, n)].

        ``audio`` is float32 or float64 [shape=(2, n)], any n >= 0. Pass ``out`` (float32 or
        float64, shape (2, n)) to avoid allocating; without it a new array is returned.
        """
        x = self._check(audio)
        n = x.shape[1]
        if out is None:
            out = np.empty((2, n), np.float32)
        self._run(x, out[np.newaxis])
        return out

    def process_split(self, audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process one block into its two outputs [shape=(2, 2, n)]: ``out[0]`` the slice
        (target), ``out[1]`` everything else (rest), each with its gain applied."""
        x = self._check(audio)
        if out is None:
            out = np.empty((2, 2, x.shape[1]), np.float32)
        self._run(x, out)
        return out

    def _run(self, x: np.ndarray, out: np.ndarray) -> None:
        b = self._buf
        self._kernel(x, out, b.floats, b.spectra, b.ints, b.edits, b.prior, b.prior_at)

    def _check(self, audio: np.ndarray) -> np.ndarray:
        self._require()
        if audio.ndim != 2 or audio.shape[0] != 2:
            raise ParameterError(f"audio must have shape (2, n), got {audio.shape}")
        if audio.dtype.char not in "fd":  # float32, float64 (a cheap test: it runs per block)
            raise ParameterError(f"audio must be float32 or float64, got {audio.dtype}")
        return audio

    def _require(self) -> None:
        if self._buf is None:
            raise ParameterError("engine is not prepared: call prepare(sample_rate, max_block) first")

    def __repr__(self) -> str:
        return f"Engine({self.params!r}, sample_rate={self.sample_rate:g}, unity={self.unity})"
