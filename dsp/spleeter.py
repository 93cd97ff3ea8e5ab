"""Spleeter 2-stems (Deezer, MIT) inference in numpy: its vocal mask as a prior for the slice.

The network, as trained: the magnitude STFT of a stereo mix (frame 4096, hop 1024, periodic
Hann, 44.1 kHz; the lowest 1024 bins; cut into 512-frame patches) goes through two U-Nets, one
per stem. Each U-Net has six 5x5 stride-2 convolutions (batch norm, LeakyReLU 0.2), six 5x5
stride-2 transposed convolutions (ReLU, then batch norm; the first three with dropout, inert at
inference), skip connections that carry the encoder's convolution outputs *before* their batch
norm, and a last 4x4 convolution with dilation 2 and a sigmoid: a soft mask per channel. The
stems' estimates ``mask * |X|`` become ratio masks with exponent 2:
``vocal = (v^2 + eps/2) / (v^2 + a^2 + eps)``. Bins above 1024 (11 kHz) get mask 0 in both stems,
as shipped.

Here every convolution is one BLAS matrix product over an im2col view (transposed ones: a
product, then an overlap-add). Batch norms that follow an activation are folded into the next
layer at load (scaled weights plus a constant bias image, exact at the borders); those whose
input also feeds a skip connection stay a per-channel scale and shift before the activation.
Memory is constant per patch: a file goes through patch by patch.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import scipy.fft
from numba import njit
from numpy.lib.stride_tricks import as_strided

SAMPLE_RATE = 44100
FRAME = 4096
HOP = 1024
PATCH = 512          # frames per network input
BINS = 1024          # bins the network sees (up to 11 kHz)
STEMS = ("vocals", "accompaniment")
EPS = 1e-10
BN_EPS = 1e-3        # Keras' BatchNormalization default
_DEPTH = 6


def _bn(w: Mapping[str, np.ndarray], i: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm ``i`` as (scale, shift)."""
    name = "batch_normalization" + (f"_{i}" if i else "")
    scale = w[name + "/gamma"] / np.sqrt(w[name + "/moving_variance"] + BN_EPS)
    return scale, w[name + "/beta"] - w[name + "/moving_mean"] * scale


def _named(base: str, i: int) -> str:
    return base + (f"_{i}" if i else "")


class _Scratch:
    """Work arrays kept from patch to patch, one per (role, shape): the layers' big
    intermediates (tens of MB) then cost no fresh memory pages per patch. Created zeroed, so
    the padding borders stay zero (only interiors are ever written)."""

    def __init__(self):
        self._arrays: dict[tuple, np.ndarray] = {}

    def __call__(self, role: str, shape: tuple[int, ...]) -> np.ndarray:
        a = self._arrays.get((role, shape))
        if a is None:
            a = self._arrays[(role, shape)] = np.zeros(shape, np.float32)
        return a


# -- the layers: (H, W, C) float32 images ------------------------------------------------------
def _flip(rows: int, cols: int) -> bool:
    """Whether a (rows x K) @ (K x cols) product runs faster as its transpose: OpenBLAS is several
    times slower on a few rows against a wide matrix (conv6: 128 x 6400 x 512, measured 10x)."""
    return rows <= 512 and cols >= 512


def _matmul(a: np.ndarray, k: np.ndarray, flipped: bool, out: np.ndarray, ws: "_Scratch") -> None:
    """out = a @ K, where ``k`` holds K, or K transposed when ``flipped``."""
    if flipped:
        yt = ws("flip", (k.shape[0], a.shape[0]))
        np.matmul(k, a.T, out=yt)
        out[...] = yt.T
    else:
        np.matmul(a, k, out=out)


def _conv_s2(x: np.ndarray, k: np.ndarray, flipped: bool, b: np.ndarray, ws: _Scratch) -> np.ndarray:
    """5x5 stride-2 'same' convolution (TensorFlow pads 1 before, 2 after)."""
    h, w, c = x.shape
    xp = ws("pad", (h + 3, w + 3, c))
    xp[1:h + 1, 1:w + 1] = x
    s0, s1, s2 = xp.strides
    cols = ws("cols", (h // 2, w // 2, 5, 5, c))
    cols[...] = as_strided(xp, cols.shape, (2 * s0, 2 * s1, s0, s1, s2))
    y = ws("conv", ((h // 2) * (w // 2), k.shape[0] if flipped else k.shape[1]))
    _matmul(cols.reshape(-1, 25 * c), k, flipped, y, ws)
    y += b
    return y.reshape(h // 2, w // 2, -1)


def _deconv_s2(x: np.ndarray, k: np.ndarray, flipped: bool, out_ch: int, bias: np.ndarray,
               ws: _Scratch) -> np.ndarray:
    """5x5 stride-2 'same' transposed convolution: out[2i+ky-1] += x[i] k[ky], plus ``bias``
    (an image of the output's shape)."""
    h, w, c = x.shape
    y = ws("deconv", (h * w, 25 * out_ch))
    _matmul(x.reshape(-1, c), k, flipped, y, ws)
    out = ws("up", (2 * h, 2 * w, out_ch))
    out[...] = bias
    _overlap_add(y.reshape(h, w, 5, 5, out_ch), out)
    return out


@njit(cache=True)
def _overlap_add(y, out):
    """out[2i+ky-1, 2j+kx-1] += y[i, j, ky, kx], dropping what falls outside ``out``."""
    h, w, kh, kw, no = y.shape
    ho, wo = out.shape[0], out.shape[1]
    for i in range(h):
        for ky in range(kh):
            r = 2 * i + ky - 1
            if r < 0 or r >= ho:
                continue
            for j in range(w):
                for kx in range(kw):
                    q = 2 * j + kx - 1
                    if q < 0 or q >= wo:
                        continue
                    for o in range(no):
                        out[r, q, o] += y[i, j, ky, kx, o]


@njit(cache=True)
def _conv_direct(xp, k, stride, dilation, out):
    """out[i, j] += sum over taps of xp[stride*i + dilation*ky, stride*j + dilation*kx] k[ky, kx]:
    a plain loop, faster than im2col for the layers with one or two channels in."""
    ho, wo, no = out.shape
    kh, kw, c = k.shape[0], k.shape[1], k.shape[2]
    for i in range(ho):
        for j in range(wo):
            for ky in range(kh):
                for kx in range(kw):
                    for ci in range(c):
                        v = xp[stride * i + dilation * ky, stride * j + dilation * kx, ci]
                        for o in range(no):
                            out[i, j, o] += v * k[ky, kx, ci, o]


def _conv_first(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The first 5x5 stride-2 'same' convolution (two channels in), as a direct loop."""
    h, w, c = x.shape
    xp = np.zeros((h + 3, w + 3, c), np.float32)
    xp[1:h + 1, 1:w + 1] = x
    out = np.empty((h // 2, w // 2, k.shape[3]), np.float32)
    out[...] = b
    _conv_direct(xp, k, 2, 1, out)
    return out


def _conv_dil(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """4x4 'same' convolution with dilation 2 (pads 3 on each side), one channel in, no bias."""
    h, w, _ = x.shape
    xp = np.zeros((h + 6, w + 6), np.float32)
    xp[3:h + 3, 3:w + 3] = x[:, :, 0]
    out = np.zeros((k.shape[3], h, w), np.float32)
    for o in range(k.shape[3]):
        for ky in range(4):
            for kx in range(4):
                out[o] += xp[2 * ky:2 * ky + h, 2 * kx:2 * kx + w] * k[ky, kx, 0, o]
    return out.transpose(1, 2, 0)


class _UNet:
    """One stem's U-Net with its batch norms folded, for (PATCH, BINS, 2) inputs."""

    def __init__(self, w: Mapping[str, np.ndarray], u: int):
        f32 = np.float32
        self.enc = []
        for i in range(_DEPTH):
            name = _named("conv2d", 7 * u + i)
            k = w[name + "/kernel"]
            s, t = _bn(w, 12 * u + i)
            flip = i > 0 and _flip((PATCH >> (i + 1)) * (BINS >> (i + 1)), k.shape[3])
            if i > 0:
                k = k.reshape(-1, k.shape[3])
                k = np.ascontiguousarray(k.T) if flip else k
            self.enc.append((k.astype(f32), flip, w[name + "/bias"].astype(f32), s.astype(f32),
                             t.astype(f32)))
        # Decoder layer i takes [skip conv output, previous BN output] (layer 0: conv6 alone);
        # the previous BN's scale goes into the weights, its shift into a bias image.
        self.dec = []
        h, wd = PATCH >> _DEPTH, BINS >> _DEPTH
        prev = None  # (scale, shift) of the batch norm feeding this layer
        for i in range(_DEPTH):
            name = _named("conv2d_transpose", 6 * u + i)
            k = w[name + "/kernel"]                       # (5, 5, out, in)
            out_ch, in_ch = k.shape[2], k.shape[3]
            scale = np.ones(in_ch, f32)
            shift = np.zeros(in_ch, f32)
            if prev is not None:
                n = prev[0].size
                scale[in_ch - n:] = prev[0]
                shift[in_ch - n:] = prev[1]
            km = (k.transpose(3, 0, 1, 2) * scale[:, None, None, None]).reshape(in_ch, -1).astype(f32)
            # A constant input image gives every pixel the same product row: overlap-add it.
            row = shift @ k.transpose(3, 0, 1, 2).reshape(in_ch, -1)
            y = np.empty((h, wd, 5, 5, out_ch), f32)
            y[...] = row.reshape(5, 5, out_ch)
            bias = np.zeros((2 * h, 2 * wd, out_ch), f32)
            _overlap_add(y, bias)
            bias += w[name + "/bias"]
            flip = _flip(h * wd, km.shape[1])
            self.dec.append((np.ascontiguousarray(km.T) if flip else km, flip, bias, out_ch))
            prev = _bn(w, 12 * u + _DEPTH + i)
            h, wd = 2 * h, 2 * wd
        name = _named("conv2d", 7 * u + _DEPTH)
        k = w[name + "/kernel"]                           # (4, 4, 1, 2)
        s, t = prev
        self.last = (k * s[0]).astype(f32)
        raw = k.astype(f32)
        self.last_bias = _conv_dil(np.full((h, wd, 1), t[0], f32), raw) + w[name + "/bias"]

    def __call__(self, z1: np.ndarray, ws: _Scratch) -> np.ndarray:
        """Soft mask (sigmoid) for a (PATCH, BINS, 2) patch, given its first convolution ``z1``
        (shared by the stems: see ``Spleeter.masks``)."""
        skips = []
        z = z1
        for layer, (k, flip, b, s, t) in enumerate(self.enc):
            if layer:
                z = _conv_s2(a, k, flip, b, ws)
            skips.append(z)
            a = ws("act", z.shape)
            np.multiply(z, s, out=a)
            a += t
            a2 = ws("act2", z.shape)
            np.multiply(a, 0.2, out=a2)
            np.maximum(a, a2, out=a)                      # LeakyReLU(0.2)
        y = skips.pop()                                   # conv6, before its batch norm
        for km, flip, bias, out_ch in self.dec:
            y = _deconv_s2(y, km, flip, out_ch, bias, ws)
            np.maximum(y, 0.0, out=y)                     # ReLU (its batch norm is folded ahead)
            if skips:
                skip = skips.pop()
                cat = ws("cat", y.shape[:2] + (skip.shape[2] + y.shape[2],))
                cat[:, :, :skip.shape[2]] = skip
                cat[:, :, skip.shape[2]:] = y
                y = cat
        z = _conv_dil(y, self.last)
        z += self.last_bias
        return 0.5 + 0.5 * np.tanh(0.5 * z)               # the sigmoid, without overflow


class Spleeter:
    """Spleeter 2-stems from its checkpoint variables (as ``panslice.plugin.model.load`` gives).

    ``masks(audio)`` yields Spleeter's own ratio masks patch by patch, on its STFT grid.
    """

    def __init__(self, weights: Mapping[str, np.ndarray]):
        try:
            self.nets = [_UNet(weights, u) for u in range(len(STEMS))]
        except KeyError as e:
            raise ValueError(f"Spleeter weights lack the variable {e}") from None
        self._ws = _Scratch()
        # Both stems' first convolutions read the same input: run them as one.
        self.first_k = np.concatenate([net.enc[0][0] for net in self.nets], axis=3)
        self.first_b = np.concatenate([net.enc[0][2] for net in self.nets])
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)).astype(np.float32)

    @staticmethod
    def n_frames(n_samples: int) -> int:
        """STFT frames Spleeter computes for ``n_samples``: a frame of zeros in front, end padded."""
        return -(-(n_samples + FRAME) // HOP)

    def magnitude(self, audio: np.ndarray, t0: int, count: int) -> np.ndarray:
        """|STFT| of frames t0 .. t0+count [shape=(count, BINS, 2)]; frame t ends at t*HOP."""
        n = audio.shape[1]
        lo = t0 * HOP - FRAME
        hi = (t0 + count - 1) * HOP
        seg = np.zeros((2, hi + FRAME - lo), np.float32)
        a, b = max(lo, 0), min(hi + FRAME, n)
        if b > a:
            seg[:, a - lo: b - lo] = audio[:, a:b]
        s0, s1 = seg.strides
        frames = as_strided(seg, (2, count, FRAME), (s0, HOP * s1, s1)) * self.window
        spec = scipy.fft.rfft(frames, axis=-1)[:, :, :BINS]    # float32 in, complex64 out
        return np.ascontiguousarray(np.abs(spec).transpose(1, 2, 0))

    def masks(self, audio: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(t0, vocal_mask)`` per patch: the vocal ratio mask of frames t0 .. t0+PATCH
        [shape=(PATCH, BINS, 2), float32], for ``audio`` [shape=(2, n)] at 44.1 kHz. The
        accompaniment mask is ``1 - vocal_mask`` (to within 1e-10); above BINS both are 0.
        The last patch is zero-padded, as Spleeter does; callers crop to ``n_frames``."""
        if audio.ndim != 2 or audio.shape[0] != 2:
            raise ValueError(f"Spleeter needs stereo audio of shape (2, n), got {audio.shape}")
        total = self.n_frames(audio.shape[1])
        for t0 in range(0, total, PATCH):
            mag = self.magnitude(audio, t0, min(PATCH, total - t0))
            if mag.shape[0] < PATCH:
                mag = np.concatenate([mag, np.zeros((PATCH - mag.shape[0], BINS, 2), np.float32)])
            z1 = _conv_first(mag, self.first_k, self.first_b)
            c = z1.shape[2] // 2
            v, a = (net(z1[:, :, i * c:(i + 1) * c], self._ws) * mag
                    for i, net in enumerate(self.nets))
            v *= v
            a *= a
            yield t0, (v + EPS / 2) / (v + a + EPS)


def resample_to_model_rate(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """``audio`` at Spleeter's 44.1 kHz (polyphase resampling when it is at another rate)."""
    if sample_rate == SAMPLE_RATE:
        return np.asarray(audio, np.float32)
    from fractions import Fraction

    from scipy.signal import resample_poly

    r = Fraction(SAMPLE_RATE, int(round(sample_rate))).limit_denominator(1000)
    return resample_poly(audio, r.numerator, r.denominator, axis=1).astype(np.float32)


def prior_rows(patch_mask: np.ndarray, t0: int, frames: np.ndarray, fft_size: int, hop: int,
               sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Map one patch of Spleeter's vocal mask onto the engine's STFT grid.

    ``frames`` are engine frame indices; engine frame j covers input samples
    ``[(j+1)*hop - fft_size, (j+1)*hop)``, Spleeter frame t covers ``[t*HOP - FRAME, t*HOP)``
    (at 44.1 kHz). Rows whose centre falls inside this patch are returned, interpolated linearly
    in time and frequency, the two channels' masks averaged. Returns (frame indices, rows
    [shape=(len, fft_size//2+1), float32]).
    """
    centre = ((frames + 1) * hop - fft_size / 2) * (SAMPLE_RATE / sample_rate)  # at 44.1 kHz
    t = centre / HOP + FRAME / (2 * HOP)                      # fractional Spleeter frame
    rows = patch_mask.shape[0]
    keep = (t >= t0) & (t < t0 + rows)
    frames = frames[keep]
    tl = t[keep] - t0
    i0 = np.minimum(np.floor(tl).astype(np.int64), rows - 1)
    i1 = np.minimum(i0 + 1, rows - 1)
    ft = (tl - i0)[:, None].astype(np.float32)
    m = patch_mask.mean(axis=2)
    mt = m[i0] * (1 - ft) + m[i1] * ft                    # (len, BINS)
    nb = fft_size // 2 + 1
    f = np.arange(nb) * (sample_rate / fft_size) * FRAME / SAMPLE_RATE
    out = np.zeros((mt.shape[0], nb), np.float32)
    inside = f <= BINS - 1
    fi = f[inside]
    k0 = np.floor(fi).astype(np.int64)
    k1 = np.minimum(k0 + 1, BINS - 1)
    fk = (fi - k0).astype(np.float32)
    out[:, inside] = mt[:, k0] * (1 - fk) + mt[:, k1] * fk
    return frames, out
