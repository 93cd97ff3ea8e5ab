"""The streaming overlap-add STFT kernel: any block size in, the same samples out.

Input samples go into a sliding frame; every ``hop`` samples one frame is analysed, masked and
overlap-added. Output sample ``i`` is always input sample ``i - latency`` processed, with
``latency = fft_size - 1`` (the last sample of a frame must arrive before the frame can be
transformed), so the result cannot depend on how the host cut the stream into blocks.

Real-time safe: ``process_block`` writes into buffers the engine allocated in ``prepare``; the
FFTs are rocket-fft's low-level ``r2c``/``c2r`` into those buffers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from rocket_fft import c2r, r2c

from .mask import RF_ROWS, band_table, refine_mask, slice_mask
from .regions import R_COLS, edit_gains

# Layout of the integer state vector ``st``.
ST_POS = 0        # samples in the current hop (0 .. hop-1)
ST_FRAMES = 1     # frames processed since reset
ST_BANDS_DIRTY = 2
ST_BANDS_UNIFORM = 3
ST_SIZE = 4

# Frames transformed by one forward and one inverse FFT call when a block holds several:
# rocket-fft (pocketfft) vectorises across rows, about 1.5x faster per transform than one frame
# at a time.
BATCH = 8

# Layout of ``pidx``: where the kernel finds each knob in the parameter vectors.
PI_CENTER, PI_WIDTH, PI_SOFT, PI_PHASE, PI_TGAIN, PI_RGAIN, PI_BCOUNT, PI_BAND0 = range(8)
PI_MLPRIOR = 8
PI_PERC, PI_SMOOTH_MS, PI_SMOOTH_HZ, PI_AMBIENCE = 9, 10, 11, 12


class Buffers:
    """Everything the kernel reads and writes, allocated once in ``Engine.prepare``."""

    def __init__(self, fft_size: int, hop: int, n_params: int, freqs: np.ndarray, max_bands: int):
        n, nb = fft_size, fft_size // 2 + 1
        self.st = np.zeros(ST_SIZE, np.int64)
        self.frame = np.zeros((2, n))            # the input before the block: frame[:, :n-hop+pos]
        self.xw = np.zeros((BATCH, 2, n))        # windowed frames, up to BATCH ahead
        self.spec = np.zeros((BATCH, 2, nb), np.complex128)
        self.work = np.zeros((BATCH, 2, nb), np.complex128)
        self.u = np.zeros((BATCH, 2, n))         # inverse FFT of the masked frame
        self.t = np.zeros((BATCH, 2, n))         # inverse FFT with per-band gains
        self.slot = np.zeros((BATCH, 3))         # per frame: target gain, rest gain, per-band
        self.acc = np.zeros((2, 2, n))           # overlap-add: [target|rest, channel, sample]
        self.ready = np.zeros((2, 2, hop))       # the finished hop being played out
        self.mask = np.zeros(nb)
        self.band_w = np.zeros(nb)
        self.band_g = np.ones(nb)
        self.lows = np.zeros(max_bands)
        self.highs = np.zeros(max_bands)
        self.gains = np.ones(max_bands)
        self.cur = np.zeros(n_params)            # smoothed values (kernel units)
        self.tgt = np.zeros(n_params)            # target values (kernel units)
        self.coef = np.ones(n_params)            # one-pole coefficient per hop
        self.freqs = freqs
        self.axes = np.array([1], np.int64)
        # Hand edits (see regions.py): rows set by Engine.set_edits, per-bin gains per frame.
        self.edits = np.zeros((0, R_COLS))
        self.edit_t = np.ones(nb)
        self.edit_r = np.ones(nb)
        # ML prior (Engine.set_prior): one vocal-mask row per frame from frame prior_at[0] on.
        self.prior = np.ones((0, nb), np.float32)
        self.prior_at = np.zeros(1, np.int64)
        # Per-bin memories and scratch of the mask refinement (mask.refine_mask).
        self.refine = np.zeros((RF_ROWS, nb))

    def reset(self) -> None:
        for a in (self.st, self.frame, self.xw, self.u, self.t, self.acc, self.ready, self.mask,
                  self.refine):
            a[...] = 0
        self.cur[:] = self.tgt
        self.st[ST_BANDS_DIRTY] = 1


@njit(cache=True)
def _smooth(cur, tgt, coef, pidx):
    """Advance every parameter one hop toward its target; True if a band value moved."""
    bands_moved = False
    for i in range(cur.shape[0]):
        c = cur[i]
        t = tgt[i]
        if c != t:
            c += (t - c) * coef[i]
            if abs(t - c) <= 1e-6 * (abs(t) + 1e-3):
                c = t
            cur[i] = c
            if i == pidx[PI_BCOUNT] or i >= pidx[PI_BAND0]:
                bands_moved = True
    return bands_moved


@njit(cache=True)
def _analyse_frame(spec, work, tt, mask, band_w, band_g, lows, highs, gains, cur, tgt, coef,
                   freqs, axes, st, pidx, unity, prior, prior_at, refine, hop, slot):
    """One frame up to its inverse FFT, in frame order: glide the parameters one hop, write
    the masked spectrum into ``work`` (the caller transforms it into ``u``), the per-band
    target into ``tt`` when band gains differ, and the frame's gains into ``slot``."""
    nb = spec.shape[1]
    n = tt.shape[1]

    if _smooth(cur, tgt, coef, pidx) or st[ST_BANDS_DIRTY]:
        count = int(cur[pidx[PI_BCOUNT]] + 0.5)
        b0 = pidx[PI_BAND0]
        for b in range(count):
            lows[b] = cur[b0 + 3 * b]
            highs[b] = cur[b0 + 3 * b + 1]
            gains[b] = cur[b0 + 3 * b + 2]
        st[ST_BANDS_UNIFORM] = band_table(freqs, lows, highs, gains, count, band_w, band_g)
        st[ST_BANDS_DIRTY] = 0

    slice_mask(spec, cur[pidx[PI_CENTER]], cur[pidx[PI_WIDTH]], cur[pidx[PI_SOFT]],
               cur[pidx[PI_PHASE]], band_w, mask)
    refine_mask(spec, cur[pidx[PI_PERC]], cur[pidx[PI_SMOOTH_MS]], cur[pidx[PI_SMOOTH_HZ]],
                cur[pidx[PI_AMBIENCE]], hop, freqs, band_w, refine, mask)
    # ML prior: m = m_slice * ((1 - a) + a * prior), so at a = 1 the slice is the ML mask inside
    # the azimuth window and the bands; frames without a prior row keep the azimuth mask.
    a = cur[pidx[PI_MLPRIOR]]
    row = st[ST_FRAMES] - prior_at[0]
    if a > 0.0 and 0 <= row < prior.shape[0]:
        for k in range(nb):
            mask[k] *= (1.0 - a) + a * prior[row, k]

    if unity:
        tg = 1.0
        rg = 1.0
        per_band = False
    else:
        tg = cur[pidx[PI_TGAIN]]
        rg = cur[pidx[PI_RGAIN]]
        per_band = st[ST_BANDS_UNIFORM] == 0
    if per_band:
        for c in range(2):
            for k in range(nb):
                work[c, k] = spec[c, k] * (mask[k] * band_g[k])
        c2r(work, tt, axes, False, 1.0 / n, 1)
    elif not unity:
        # All bands share one gain: fold it into the target gain.
        for k in range(nb):
            if band_w[k] > 0.0:
                tg *= band_g[k]
                break
    for c in range(2):
        for k in range(nb):
            work[c, k] = spec[c, k] * mask[k]
    slot[0] = tg
    slot[1] = rg
    slot[2] = 1.0 if per_band else 0.0
    st[ST_FRAMES] += 1


@njit(cache=True)
def _finish_frame(xw, spec, work, u, tt, acc, ready, mask, band_g, freqs, axes, ws,
                  edits, edit_t, edit_r, slot, frame_no):
    """One frame after its inverse FFT, in frame order: hand edits, then overlap-add."""
    n = xw.shape[1]
    hop = ready.shape[2]
    tg = slot[0]
    rg = slot[1]
    per_band = slot[2] != 0.0

    # Hand edits: frame F covers input samples [(F+1)*hop - n, (F+1)*hop); judged at its centre.
    # (With edits the kernel runs one frame at a time, so mask and band_g are this frame's.)
    if edits.shape[0] > 0 and edit_gains(edits, (frame_no + 1) * hop - 0.5 * n, spec, freqs,
                                         mask, edit_t, edit_r):
        _edited_frame(spec, mask, band_g, per_band, edit_t, edit_r, work, tt, u, xw, axes, 1.0 / n)
        per_band = True

    # target = gain * u, rest = rest_gain * (windowed input - u): one inverse FFT per channel
    # in the common case, and target + rest == input exactly at unity gains.
    # Added, played out (the first hop) and shifted one hop in a single pass over acc.
    src = tt if per_band else u
    for c in range(2):
        for j in range(hop):
            ready[0, c, j] = acc[0, c, j] + ws[j] * (src[c, j] * tg)
            ready[1, c, j] = acc[1, c, j] + ws[j] * (rg * (xw[c, j] - u[c, j]))
        for j in range(hop, n):
            acc[0, c, j - hop] = acc[0, c, j] + ws[j] * (src[c, j] * tg)
            acc[1, c, j - hop] = acc[1, c, j] + ws[j] * (rg * (xw[c, j] - u[c, j]))
        for j in range(n - hop, n):
            acc[0, c, j] = 0.0
            acc[1, c, j] = 0.0


@njit(cache=True)
def _edited_frame(spec, mask, band_g, per_band, edit_t, edit_r, work, tt, u, xw, axes, inv_n):
    """Rewrite the frame's outputs with hand-edit gains: the target and the rest need an
    inverse FFT each. Leaves the target in ``tt`` and sets ``u`` so that ``xw - u`` is the rest,
    which is the form the overlap-add below reads."""
    nb = spec.shape[1]
    n = u.shape[1]
    for c in range(2):
        for k in range(nb):
            g = mask[k] * band_g[k] if per_band else mask[k]
            work[c, k] = spec[c, k] * (g * edit_t[k])
    c2r(work, tt, axes, False, inv_n, 1)
    for c in range(2):
        for k in range(nb):
            work[c, k] = spec[c, k] * ((1.0 - mask[k]) * edit_r[k])
    c2r(work, u, axes, False, inv_n, 1)
    for c in range(2):
        for j in range(n):
            u[c, j] = xw[c, j] - u[c, j]


@njit(cache=True)
def process_block(x, out, frame, xw, spec, work, u, tt, acc, ready, mask, band_w, band_g,
                  lows, highs, gains, cur, tgt, coef, freqs, axes, st, pidx, wa, ws, unity,
                  edits, edit_t, edit_r, prior, prior_at, refine, slot):
    """Stream ``x`` [shape=(2, n)] through the engine into ``out``.

    ``out`` has shape (1, 2, n) for the mixed output (target + rest) or (2, 2, n) for the two
    outputs separately. Non-finite input samples are treated as silence so that one bad sample
    cannot poison the overlap-add state.
    """
    n_in = x.shape[1]
    n = frame.shape[1]
    hop = ready.shape[2]
    base = n - hop
    split = out.shape[0] == 2
    batch = xw.shape[0]
    nb = spec.shape[2]
    pos = st[ST_POS]
    hist = base + pos  # input samples held in frame from earlier blocks
    i = 0
    f = 0       # slot of the next frame to finish
    m = 0       # frames analysed ahead, in slots 0 .. m-1
    first = 0   # frame number of slot 0
    # One pass per stretch of input up to the next hop boundary. Output sample i is
    # ready[pos + 1], or ready[0] of the new frame for the sample that completes a hop.
    while i < n_in:
        take = min(hop - pos, n_in - i)
        if pos + take == hop and f == m:
            # The frames that complete in this block (up to BATCH; one at a time with hand
            # edits): window them, one forward FFT call, analyse each in order, one inverse
            # FFT call. Their overlap-add follows as their hops are played out.
            m = min(batch, (pos + n_in - i) // hop) if edits.shape[0] == 0 else 1
            for g in range(m):
                _window_ahead(frame, hist, x, i + take + g * hop, wa, xw[g])
            r2c(xw[:m].reshape((2 * m, n)), spec[:m].reshape((2 * m, nb)), axes, True, 1.0, 1)
            first = st[ST_FRAMES]
            for g in range(m):
                _analyse_frame(spec[g], work[g], tt[g], mask, band_w, band_g, lows, highs, gains,
                               cur, tgt, coef, freqs, axes, st, pidx, unity, prior, prior_at,
                               refine, hop, slot[g])
            c2r(work[:m].reshape((2 * m, nb)), u[:m].reshape((2 * m, n)), axes, False, 1.0 / n, 1)
            f = 0
        if pos + take == hop:
            _emit(out, ready, pos + 1, i, take - 1, split)
            _finish_frame(xw[f], spec[f], work[f], u[f], tt[f], acc, ready, mask, band_g,
                          freqs, axes, ws, edits, edit_t, edit_r, slot[f], first + f)
            _emit(out, ready, 0, i + take - 1, 1, split)
            pos = 0
            f += 1
        else:
            _emit(out, ready, pos + 1, i, take, split)
            pos += take
        i += take
    st[ST_POS] = pos
    _keep_history(frame, hist, x, base + pos)


@njit(cache=True, inline="always")
def _keep_history(frame, hist, x, keep):
    """frame[:, :keep] = the last ``keep`` samples of the stream: the ``hist`` held before the
    block, then the block ``x`` (non-finite samples as silence)."""
    n_in = x.shape[1]
    old = max(keep - n_in, 0)  # samples kept from before the block
    for c in range(2):
        for j in range(old):
            frame[c, j] = frame[c, hist - old + j]
        for j in range(old, keep):
            v = x[c, n_in - keep + j]
            frame[c, j] = v if math.isfinite(v) else 0.0


@njit(cache=True, inline="always")
def _window_ahead(frame, hist, x, end, wa, xw):
    """Windowed frame of the stream samples ``end - n .. end - 1`` (``x`` indices): those
    before ``x[0]`` come from the ``hist`` samples held in ``frame``, the rest from ``x``."""
    n = xw.shape[1]
    start = end - n
    j0 = min(max(-start, 0), n)
    for c in range(2):
        for j in range(j0):
            xw[c, j] = frame[c, hist + start + j] * wa[j]
        for j in range(j0, n):
            v = x[c, start + j]
            xw[c, j] = (v if math.isfinite(v) else 0.0) * wa[j]


@njit(cache=True, inline="always")
def _emit(out, ready, src, dst, m, split):
    """out[:, :, dst:dst+m] = ready[:, :, src:src+m], as two outputs or summed into one."""
    for c in range(2):
        if split:
            for j in range(m):
                out[0, c, dst + j] = ready[0, c, src + j]
                out[1, c, dst + j] = ready[1, c, src + j]
        else:
            for j in range(m):
                out[0, c, dst + j] = ready[0, c, src + j] + ready[1, c, src + j]
