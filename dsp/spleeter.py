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

Here every 5x5 convolution is one BLAS matrix product over an im2col view (transposed ones: a
product, then an overlap-add); the element-wise steps and the last dilated convolution are numba
loops. Batch norms that follow an activation are folded into the next layer at load (scaled
weights plus a constant bias image, exact at the borders); those whose input also feeds a skip
connection stay a per-channel scale and shift before the activation. Each stem's U-Net keeps its
own work arrays and its loops release the GIL, so a caller may run the two at once. Patches may
be any multiple of 64 frames (six stride-2 layers); memory is constant per patch.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import scipy.fft
from numba import njit
from numpy.lib.stride_tricks import as_strided

from .errors import SpleeterError

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
def _conv_s2(x: np.ndarray, k: np.ndarray, b: np.ndarray, ws: _Scratch) -> np.ndarray:
    """5x5 stride-2 'same' convolution (TensorFlow pads 1 before, 2 after): im2col, one product.
    With one BLAS thread per stem the plain product is the fastest layout for every layer."""
    h, w, c = x.shape
    xp = ws("pad", (h + 3, w + 3, c))
    xp[1:h + 1, 1:w + 1] = x
    s0, s1, s2 = xp.strides
    cols = ws("cols", (h // 2, w // 2, 5, 5, c))
    cols[...] = as_strided(xp, cols.shape, (2 * s0, 2 * s1, s0, s1, s2))
    y = ws("conv", ((h // 2) * (w // 2), k.shape[1]))
    np.matmul(cols.reshape(-1, 25 * c), k, out=y)
    y += b
    return y.reshape(h // 2, w // 2, -1)


def _deconv_s2(x: np.ndarray, k: np.ndarray, bias: np.ndarray, out: np.ndarray, ws: _Scratch) -> None:
    """5x5 stride-2 'same' transposed convolution into ``out`` (may be a channel slice of a
    larger image): out[2i+ky-1] = bias + sum x[i] k[ky], then ReLU."""
    h, w, c = x.shape
    y = ws("deconv", (h * w, k.shape[1]))
    np.matmul(x.reshape(-1, c), k, out=y)
    y = y.reshape(h, w, 5, 5, -1)
    if out.shape[2] == 1:
        _overlap_add_relu_mono(y, bias, out)
    else:
        _overlap_add_relu(y, bias, out)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _overlap_add_relu(y, bias, out):
    """out = ReLU(bias + overlap-add of ``y``), gathered per output pixel: each output pixel
    (r, q) takes the taps ky = r+1-2i, kx = q+1-2j that land on it (at most 3 x 3)."""
    h, w, kh, kw, no = y.shape
    ho, wo = out.shape[0], out.shape[1]
    acc = np.empty(no, np.float32)
    for r in range(ho):
        for q in range(wo):
            for o in range(no):
                acc[o] = bias[r, q, o]
            for ky in range((r + 1) % 2, kh, 2):
                i = (r + 1 - ky) // 2
                if i < 0 or i >= h:
                    continue
                for kx in range((q + 1) % 2, kw, 2):
                    j = (q + 1 - kx) // 2
                    if j < 0 or j >= w:
                        continue
                    for o in range(no):
                        acc[o] += y[i, j, ky, kx, o]
            for o in range(no):
                out[r, q, o] = max(acc[o], 0.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _overlap_add_relu_mono(y, bias, out):
    """``_overlap_add_relu`` for one output channel (the last transposed conv): the same
    gather with scalar sums, about 2.5x faster than the general loop there."""
    h, w, kh, kw, _ = y.shape
    ho, wo = out.shape[0], out.shape[1]
    for r in range(ho):
        for q in range(wo):
            a = bias[r, q, 0]
            for ky in range((r + 1) & 1, kh, 2):
                t = r + 1 - ky
                if t < 0:
                    break
                if t >> 1 >= h:
                    continue
                for kx in range((q + 1) & 1, kw, 2):
                    u = q + 1 - kx
                    if u < 0:
                        break
                    if u >> 1 < w:
                        a += y[t >> 1, u >> 1, ky, kx, 0]
            out[r, q, 0] = a if a > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _bn_leaky(z, s, t, out):
    """out = LeakyReLU_0.2(z * s + t) per channel, one pass."""
    h, w, c = z.shape
    for i in range(h):
        for j in range(w):
            for o in range(c):
                v = z[i, j, o] * s[o] + t[o]
                out[i, j, o] = v if v > 0.0 else 0.2 * v


def _conv_dil(x: np.ndarray, k: np.ndarray, out: np.ndarray, ws: _Scratch) -> np.ndarray:
    """4x4 'same' convolution with dilation 2 (pads 3 on each side), one channel in, no bias,
    added into ``out`` [shape=(h, w, channels out)]."""
    h, w, _ = x.shape
    xp = ws("pad_dil", (h + 6, w + 6))
    xp[3:h + 3, 3:w + 3] = x[:, :, 0]
    _dilated_rows(xp, k[:, :, 0, :], out, ws("dil_row", (w,)))
    return out


@njit(cache=True, nogil=True)
def _dilated_rows(xp, k, out, acc):
    """out[i, j, o] += sum over ky, kx of xp[i + 2ky, j + 2kx] k[ky, kx, o], a row at a time
    (contiguous inner loops)."""
    h, w, no = out.shape
    for i in range(h):
        for o in range(no):
            acc[:] = 0.0
            for ky in range(k.shape[0]):
                row = xp[i + 2 * ky]
                for kx in range(k.shape[1]):
                    kv = k[ky, kx, o]
                    for j in range(w):
                        acc[j] += row[j + 2 * kx] * kv
            for j in range(w):
                out[i, j, o] += acc[j]


@njit(cache=True, nogil=True)
def _ratio(zv, za, mag, out):
    """Spleeter's vocal ratio mask from the two stems' logits: the sigmoids times the
    magnitude, squared, ``(v^2 + eps/2) / (v^2 + a^2 + eps)``; one pass."""
    h, w, c = zv.shape
    for i in range(h):
        for j in range(w):
            for o in range(c):
                m = mag[i, j, o]
                v = m / (1.0 + np.exp(-zv[i, j, o]))
                a = m / (1.0 + np.exp(-za[i, j, o]))
                v *= v
                out[i, j, o] = (v + 0.5 * EPS) / (v + a * a + EPS)


class _UNet:
    """One stem's U-Net with its batch norms folded, for (P, BINS, 2) inputs (P a multiple of
    64). Each instance keeps its own work arrays, so the two stems can run at the same time."""

    def __init__(self, w: Mapping[str, np.ndarray], u: int):
        f32 = np.float32
        self.ws = _Scratch()
        self.enc = []
        for i in range(_DEPTH):
            name = _named("conv2d", 7 * u + i)
            k = w[name + "/kernel"]
            s, t = _bn(w, 12 * u + i)
            k = k.reshape(-1, k.shape[3])
            self.enc.append((np.ascontiguousarray(k, f32), w[name + "/bias"].astype(f32),
                             s.astype(f32), t.astype(f32)))
        # Decoder layer i takes [skip conv output, previous BN output] (layer 0: conv6 alone);
        # the previous BN's scale goes into the weights, its shift into a bias image (made per
        # patch length in ``_biases``, from one product row: a constant input image gives every
        # pixel the same row).
        self.dec = []
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
            row = (shift @ k.transpose(3, 0, 1, 2).reshape(in_ch, -1)).astype(f32)
            self.dec.append((km, row.reshape(5, 5, out_ch), w[name + "/bias"].astype(f32), out_ch))
            prev = _bn(w, 12 * u + _DEPTH + i)
        name = _named("conv2d", 7 * u + _DEPTH)
        k = w[name + "/kernel"]                           # (4, 4, 1, 2)
        s, t = prev
        self.last = (k * s[0]).astype(f32)
        self._last_raw = (k.astype(f32), float(t[0]), w[name + "/bias"].astype(f32))
        self._bias_cache: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}

    def _biases(self, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The decoder's bias images and the last layer's, for patches of ``frames`` frames."""
        if frames not in self._bias_cache:
            h, wd = frames >> _DEPTH, BINS >> _DEPTH
            images = []
            for km, row, b, out_ch in self.dec:
                y = np.empty((h, wd, 5, 5, out_ch), np.float32)
                y[...] = row
                bias = np.zeros((2 * h, 2 * wd, out_ch), np.float32)
                _overlap_add(y, bias)
                images.append(bias + b)
                h, wd = 2 * h, 2 * wd
            raw, shift, b = self._last_raw
            last = np.zeros((h, wd, raw.shape[3]), np.float32)
            _conv_dil(np.full((h, wd, 1), shift, np.float32), raw, last, _Scratch())
            self._bias_cache[frames] = images, last + b
        return self._bias_cache[frames]

    def __call__(self, mag: np.ndarray) -> np.ndarray:
        """Logits (before the sigmoid) of the soft mask for a (P, BINS, 2) magnitude patch; the
        result is a work array, valid until the next call."""
        ws = self.ws
        biases, last_bias = self._biases(mag.shape[0])
        skips = []
        a = mag
        for k, b, s, t in self.enc:
            z = _conv_s2(a, k, b, ws)
            skips.append(z)
            a = ws("act", z.shape)
            _bn_leaky(z, s, t, a)
        y = skips.pop()                                   # conv6, before its batch norm
        for (km, _, _, out_ch), bias in zip(self.dec, biases):
            h, w = 2 * y.shape[0], 2 * y.shape[1]
            if skips:                                     # [skip, ReLU(deconv)] side by side
                skip = skips.pop()
                cat = ws("cat", (h, w, skip.shape[2] + out_ch))
                cat[:, :, :skip.shape[2]] = skip
                _deconv_s2(y, km, bias, cat[:, :, skip.shape[2]:], ws)
                y = cat
            else:
                up = ws("up", (h, w, out_ch))
                _deconv_s2(y, km, bias, up, ws)
                y = up
        z = ws("logits", last_bias.shape)
        z[...] = last_bias
        return _conv_dil(y, self.last, z, ws)


class Spleeter:
    """Spleeter 2-stems from its checkpoint variables (as ``panslice.plugin.model.load`` gives).

    ``masks(audio)`` yields Spleeter's own ratio masks patch by patch, on its STFT grid;
    ``vocal_mask(mag)`` is one patch. Patches of 512 frames are what the network was trained
    on; any multiple of 64 frames runs (shorter ones give less look-ahead live, at some cost in
    quality: see benchmarks/ml_live.py).
    """

    def __init__(self, weights: Mapping[str, np.ndarray]):
        try:
            self.nets = [_UNet(weights, u) for u in range(len(STEMS))]
        except KeyError as e:
            raise SpleeterError(f"Spleeter weights lack the variable {e}") from None

    @staticmethod
    def n_frames(n_samples: int) -> int:
        """STFT frames Spleeter computes for ``n_samples``: a frame of zeros in front, end padded."""
        return -(-(n_samples + FRAME) // HOP)

    @staticmethod
    def span(t0: int, count: int) -> tuple[int, int]:
        """Samples [lo, hi) that frames t0 .. t0+count read; frame t ends at t*HOP."""
        return t0 * HOP - FRAME, (t0 + count - 1) * HOP

    def vocal_mask(self, mag: np.ndarray, run=None) -> np.ndarray:
        """The vocal ratio mask [shape=(P, BINS, 2), float32] of a magnitude patch (P a multiple
        of 64). ``run(f, items)`` maps ``f`` over the two stems; give a thread pool's ``map``
        to run them at once (the layers release the GIL), the default runs them in turn."""
        if mag.shape[0] % (1 << _DEPTH) or mag.shape[1:] != (BINS, 2):
            raise SpleeterError(f"a patch must be (64*k, {BINS}, 2), got {mag.shape}")
        zv, za = (run or map)(lambda net: net(mag), self.nets)
        out = np.empty(mag.shape, np.float32)
        _ratio(zv, za, mag, out)
        return out

    def masks(self, audio: np.ndarray, patch: int = PATCH, run=None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(t0, vocal_mask)`` per patch: the vocal ratio mask of frames t0 .. t0+patch
        [shape=(patch, BINS, 2), float32], for ``audio`` [shape=(2, n)] at 44.1 kHz. The
        accompaniment mask is ``1 - vocal_mask`` (to within 1e-10); above BINS both are 0.
        The last patch is zero-padded, as Spleeter does; callers crop to ``n_frames``."""
        if audio.ndim != 2 or audio.shape[0] != 2:
            raise SpleeterError(f"Spleeter needs stereo audio of shape (2, n), got {audio.shape}")
        total = self.n_frames(audio.shape[1])
        for t0 in range(0, total, patch):
            lo, hi = self.span(t0, min(patch, total - t0))
            mag = magnitude(segment(audio, lo, hi), patch)
            yield t0, self.vocal_mask(mag, run)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)).astype(np.float32)


def magnitude(seg: np.ndarray, frames: int | None = None) -> np.ndarray:
    """|STFT| of the frames in ``seg`` [shape=(2, (count-1)*HOP + FRAME), as ``Spleeter.span``
    gives], zero rows added up to ``frames`` [shape=(frames or count, BINS, 2)]."""
    count = (seg.shape[1] - FRAME) // HOP + 1
    seg = np.ascontiguousarray(seg, np.float32)
    s0, s1 = seg.strides
    x = as_strided(seg, (2, count, FRAME), (s0, HOP * s1, s1)) * _WINDOW
    spec = scipy.fft.rfft(x, axis=-1)[:, :, :BINS]          # float32 in, complex64 out
    mag = np.zeros((max(frames or count, count), BINS, 2), np.float32)
    mag[:count] = np.abs(spec).transpose(1, 2, 0)
    return mag


def segment(audio: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``audio[:, lo:hi]`` [shape=(2, hi - lo)], zeros where it lies outside the signal."""
    seg = np.zeros((audio.shape[0], hi - lo), np.float32)
    a, b = max(lo, 0), min(hi, audio.shape[1])
    if b > a:
        seg[:, a - lo:b - lo] = audio[:, a:b]
    return seg


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
