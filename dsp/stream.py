"""The streaming overlap-add STFT kernel: any block size in, the same samples out.

Input samples go into a sliding frame; every ``hop`` samples one frame is analysed, masked and
overlap-added. Output sample ``i`` is always input sample ``i - latency`` processed, with
``latency = fft_size - 1`` (the last sample of a frame must arrive before the frame can be
transformed), so the result cannot depend on how the host cut the stream into blocks.

*Spread* (for hosts whose blocks are shorter than a hop, as a live audio loop's are): a frame's
work is not done in the block that completes it but in four stages shared out over the blocks of
the next hop, so that no block carries a whole frame. Its output is played one hop later:
``latency = fft_size - 1 + hop``, and the samples are otherwise the same.

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

# The engine's buffers lie in three flat arrays, so that a kernel call unboxes a handful of
# arguments instead of thirty (each costs numba's dispatcher about 0.3 us and an allocation):
# float64 ``Buffers.f`` (views named by F_*), complex ``Buffers.c`` (spectra) and int64
# ``Buffers.i``: the state, the knob positions, the FFT axis, the sizes and the offsets in ``f``.
ST_POS = 0        # samples in the current hop (0 .. hop-1)
ST_FRAMES = 1     # frames processed since reset
ST_BANDS_DIRTY = 2
ST_BANDS_UNIFORM = 3
# Frames for which acc[0] (target) and acc[1] (rest) may still hold non-zeros: an output whose
# gain is 0 (or a stem's rest, see _finish_unity) skips its overlap-add once they run out.
ST_TAIL_T = 4
ST_TAIL_R = 5
# Spread: the next stage (1 .. STAGES) of the frame waiting for its work, 0 if none; and which of
# the two ready hops is being played out.
ST_STAGE = 6
ST_PARITY = 7
ST_HIST = 8       # the column of ``frame`` where the input history starts
ST_SIZE = 9
STAGES = 4  # forward FFT, mask, inverse FFT, overlap-add

# Layout of ``pidx``: where the kernel finds each knob in the parameter vectors.
PI_CENTER, PI_WIDTH, PI_SOFT, PI_PHASE, PI_TGAIN, PI_RGAIN, PI_BCOUNT, PI_BAND0 = range(8)
PI_MLPRIOR = 8
PI_PERC, PI_SMOOTH_MS, PI_SMOOTH_HZ, PI_AMBIENCE = 9, 10, 11, 12
PI_SIZE = 13

# ``Buffers.i``: state, knob positions, FFT axis, sizes, then one offset into ``f`` per F_* view.
I_ST = 0
I_PIDX = I_ST + ST_SIZE
I_AXES = I_PIDX + PI_SIZE
I_N, I_HOP, I_BATCH, I_NB, I_NPARAMS, I_MAXBANDS, I_UNITY, I_SPREAD = range(I_AXES + 1,
                                                                       I_AXES + 9)
I_OFF = I_AXES + 9

# Views into ``Buffers.f``, in order: frame, the input before the block (n-hop+pos samples from
# column st[ST_HIST]; a block is appended after them, so that the history moves only when the
# HISTORY_ROOM columns after a frame's worth are used up);
# xw, windowed frames up to BATCH ahead; u, the inverse FFT of each masked frame; t, the same
# with per-band gains; slot, each frame's target gain, rest gain and per-band flag; acc, the
# overlap-add [target|rest, channel, sample]; ready, the finished hops [which, target|rest,
# channel, sample]: the one being played out and (spread) the next; head, the first hop of each
# windowed frame's input, unwindowed (the stems' rest is that input less the target); mask,
# band_w, band_g, per-bin mask, band membership and band gain; lows, highs, gains, the active
# bands; cur, tgt, coef, the smoothed and target knob values (kernel units) and their one-pole
# coefficients; freqs, bin frequencies; wa, ws, analysis and synthesis windows; edit_t, edit_r,
# per-bin hand-edit gains; refine, the memories and scratch rows of mask.refine_mask; levels,
# the sums of squares of the target and the rest over the last block, and its sample count.
(F_FRAME, F_XW, F_U, F_T, F_SLOT, F_ACC, F_READY, F_HEAD, F_MASK, F_BAND_W, F_BAND_G, F_LOWS,
 F_HIGHS, F_GAINS, F_CUR, F_TGT, F_COEF, F_FREQS, F_WA, F_WS, F_EDIT_T, F_EDIT_R, F_REFINE,
 F_LEVELS) = range(24)
F_NAMES = ("frame", "xw", "u", "t", "slot", "acc", "ready", "head", "mask", "band_w", "band_g",
           "lows", "highs", "gains", "cur", "tgt", "coef", "freqs", "wa", "ws", "edit_t",
           "edit_r", "refine", "levels")

HISTORY_ROOM = 8192

# Frames transformed by one forward and one inverse FFT call when a block holds several:
# rocket-fft (pocketfft) vectorises across rows, about 1.5x faster per transform than one frame
# at a time.
BATCH = 8


def _f_shapes(n: int, hop: int, nb: int, n_params: int, max_bands: int) -> tuple:
    """Shape of each F_* view (process_block builds the same views)."""
    b = BATCH
    return ((2, n + HISTORY_ROOM), (b, 2, n), (b, 2, n), (b, 2, n), (b, 3), (2, 2, n), (2, 2, 2, hop),
            (b, 2, hop), (nb,), (nb,), (nb,), (max_bands,), (max_bands,), (max_bands,),
            (n_params,), (n_params,),
            (n_params,), (nb,), (n,), (n,), (nb,), (nb,), (RF_ROWS, nb), (3,))


class Buffers:
    """Everything the kernel reads and writes, allocated once in ``Engine.prepare``; the
    named attributes are views into the three flat arrays the kernel is given."""

    def __init__(self, fft_size: int, hop: int, n_params: int, freqs: np.ndarray, max_bands: int,
                 unity: bool, spread: bool = False):
        n, nb = fft_size, fft_size // 2 + 1
        shapes = _f_shapes(n, hop, nb, n_params, max_bands)
        sizes = [int(np.prod(s)) for s in shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.f = np.zeros(int(offsets[-1]))
        for name, shape, o, size in zip(F_NAMES, shapes, offsets, sizes):
            setattr(self, name, self.f[o:o + size].reshape(shape))
        self.c = np.zeros(2 * BATCH * 2 * nb, np.complex128)
        self.spec = self.c[:BATCH * 2 * nb].reshape((BATCH, 2, nb))
        self.work = self.c[BATCH * 2 * nb:].reshape((BATCH, 2, nb))
        self.i = np.zeros(I_OFF + len(F_NAMES), np.int64)
        self.st = self.i[I_ST:I_ST + ST_SIZE]         # the kernel's state (ST_*)
        self.pidx = self.i[I_PIDX:I_PIDX + PI_SIZE]   # where each knob is in cur/tgt (PI_*)
        self.i[I_AXES] = 1
        self.i[I_N:I_SPREAD + 1] = (n, hop, BATCH, nb, n_params, max_bands, int(unity),
                                    int(spread))
        self.i[I_OFF:] = offsets[:-1]
        self.band_g[:] = 1.0
        self.gains[:] = 1.0
        self.coef[:] = 1.0
        self.freqs[:] = freqs
        self.edit_t[:] = 1.0
        self.edit_r[:] = 1.0
        # Hand edits (see regions.py): rows set by Engine.set_edits, per-bin gains per frame.
        self.edits = np.zeros((0, R_COLS))
        # ML prior (Engine.set_prior): one vocal-mask row per frame from frame prior_at[0] on.
        self.prior = np.ones((0, nb), np.float32)
        self.prior_at = np.zeros(1, np.int64)

    def reset(self) -> None:
        for a in (self.st, self.frame, self.xw, self.u, self.t, self.acc, self.ready, self.head,
                  self.mask, self.refine, self.levels):
            a[...] = 0
        self.cur[:] = self.tgt
        self.st[ST_BANDS_DIRTY] = 1


@njit(cache=True, inline="always")
def _view(f, iv, k, shape):
    """The F_* view ``k`` of ``f`` (a view: allocates nothing)."""
    size = 1
    for s in shape:
        size *= s
    o = iv[I_OFF + k]
    return f[o:o + size].reshape(shape)


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
def _glide(cur, tgt, coef, pidx, st, freqs, lows, highs, gains, band_w, band_g):
    """Glide the parameters one hop and rebuild the band table if a band moved: the part of a
    frame's analysis done as the frame completes, so that it sees the knobs as they are then
    whenever the rest of its work is done."""
    if _smooth(cur, tgt, coef, pidx) or st[ST_BANDS_DIRTY]:
        count = int(cur[pidx[PI_BCOUNT]] + 0.5)
        b0 = pidx[PI_BAND0]
        for b in range(count):
            lows[b] = cur[b0 + 3 * b]
            highs[b] = cur[b0 + 3 * b + 1]
            gains[b] = cur[b0 + 3 * b + 2]
        st[ST_BANDS_UNIFORM] = band_table(freqs, lows, highs, gains, count, band_w, band_g)
        st[ST_BANDS_DIRTY] = 0


@njit(cache=True)
def _analyse_frame(spec, work, tt, mask, band_w, band_g, cur, freqs, axes, st, pidx, unity, prior,
                   prior_at, refine, hop, slot):
    """One frame up to its inverse FFT, in frame order, after its :func:`_glide`: write the
    masked spectrum into ``work`` (the caller transforms it into ``u``), the per-band target
    into ``tt`` when band gains differ, and the frame's gains into ``slot``."""
    nb = spec.shape[1]
    n = tt.shape[1]
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
                  edits, edit_t, edit_r, slot, frame_no, st):
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
    # Added, played out (the first hop) and shifted one hop in one pass over each accumulator;
    # an output at gain 0 (karaoke's target, acapella's rest) is silence once its tail is out.
    src = tt if per_band else u
    if _accumulates(st, ST_TAIL_T, tg, n // hop):
        for c in range(2):
            _overlap_add(acc[0, c], ready[0, c], ws, src[c], tg)
    else:
        ready[0] = 0.0
    if _accumulates(st, ST_TAIL_R, rg, n // hop):
        for c in range(2):
            _overlap_add_diff(acc[1, c], ready[1, c], ws, xw[c], u[c], rg)
    else:
        ready[1] = 0.0


@njit(cache=True, inline="always")
def _overlap_add(acc, ready, ws, y, g):
    """One channel: ready = acc[:hop] + ws * (y * g) over the first hop; acc = acc[hop:] + the
    same over the rest, shifted one hop, zeros after. Written over views that start at 0, so
    that numba drops its negative-index checks and the loops vectorise."""
    n = acc.shape[0]
    hop = ready.shape[0]
    for j in range(hop):
        ready[j] = acc[j] + ws[j] * (y[j] * g)
    a1 = acc[hop:]
    w1 = ws[hop:]
    y1 = y[hop:]
    for j in range(n - hop):
        acc[j] = a1[j] + w1[j] * (y1[j] * g)
    acc[n - hop:] = 0.0


@njit(cache=True, inline="always")
def _overlap_add_diff(acc, ready, ws, y, z, g):
    """:func:`_overlap_add` of ``g * (y - z)``."""
    n = acc.shape[0]
    hop = ready.shape[0]
    for j in range(hop):
        ready[j] = acc[j] + ws[j] * (g * (y[j] - z[j]))
    a1 = acc[hop:]
    w1 = ws[hop:]
    y1 = y[hop:]
    z1 = z[hop:]
    for j in range(n - hop):
        acc[j] = a1[j] + w1[j] * (g * (y1[j] - z1[j]))
    acc[n - hop:] = 0.0


@njit(cache=True, inline="always")
def _accumulates(st, tail, gain, overlap):
    """Whether this frame must overlap-add into the accumulator whose tail count is
    ``st[tail]``: yes while the gain is not 0, and for the ``overlap - 1`` frames after, until
    what the accumulator held has been played out (it is all zeros from then on)."""
    if gain != 0.0:
        st[tail] = overlap
    if st[tail] > 0:
        st[tail] -= 1
        return True
    return False


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
def process_block(x, out, f, c, iv, edits, prior, prior_at):
    """Stream ``x`` [shape=(2, n)] through the engine into ``out``.

    ``out`` has shape (1, 2, n) for the mixed output (target + rest) or (2, 2, n) for the two
    outputs separately. ``f``, ``c`` and ``iv`` are a :class:`Buffers`' flat arrays. Non-finite
    input samples are treated as silence so that one bad sample cannot poison the overlap-add
    state.
    """
    n = iv[I_N]
    hop = iv[I_HOP]
    batch = iv[I_BATCH]
    nb = iv[I_NB]
    n_params = iv[I_NPARAMS]
    max_bands = iv[I_MAXBANDS]
    unity = iv[I_UNITY] != 0
    frame = _view(f, iv, F_FRAME, (2, n + HISTORY_ROOM))
    xw = _view(f, iv, F_XW, (batch, 2, n))
    u = _view(f, iv, F_U, (batch, 2, n))
    tt = _view(f, iv, F_T, (batch, 2, n))
    slot = _view(f, iv, F_SLOT, (batch, 3))
    acc = _view(f, iv, F_ACC, (2, 2, n))
    ready = _view(f, iv, F_READY, (2, 2, 2, hop))
    head = _view(f, iv, F_HEAD, (batch, 2, hop))
    mask = _view(f, iv, F_MASK, (nb,))
    band_w = _view(f, iv, F_BAND_W, (nb,))
    band_g = _view(f, iv, F_BAND_G, (nb,))
    lows = _view(f, iv, F_LOWS, (max_bands,))
    highs = _view(f, iv, F_HIGHS, (max_bands,))
    gains = _view(f, iv, F_GAINS, (max_bands,))
    cur = _view(f, iv, F_CUR, (n_params,))
    tgt = _view(f, iv, F_TGT, (n_params,))
    coef = _view(f, iv, F_COEF, (n_params,))
    freqs = _view(f, iv, F_FREQS, (nb,))
    wa = _view(f, iv, F_WA, (n,))
    ws = _view(f, iv, F_WS, (n,))
    edit_t = _view(f, iv, F_EDIT_T, (nb,))
    edit_r = _view(f, iv, F_EDIT_R, (nb,))
    refine = _view(f, iv, F_REFINE, (RF_ROWS, nb))
    levels = _view(f, iv, F_LEVELS, (3,))
    spec = c[:batch * 2 * nb].reshape((batch, 2, nb))
    work = c[batch * 2 * nb:].reshape((batch, 2, nb))
    st = iv[I_ST:I_ST + ST_SIZE]
    pidx = iv[I_PIDX:I_PIDX + PI_SIZE]
    axes = iv[I_AXES:I_AXES + 1]
    n_in = x.shape[1]
    base = n - hop
    split = out.shape[0] == 2
    levels[0] = 0.0
    levels[1] = 0.0
    levels[2] = n_in
    pos = st[ST_POS]
    hist = base + pos  # input samples held in frame from earlier blocks, from column h0
    h0 = st[ST_HIST]
    i = 0
    if iv[I_SPREAD] != 0:
        # Spread: a frame completing here is windowed (its input is in hand only now) and its
        # knobs glide; the rest of its work is done in stages over the blocks of the next hop
        # (below), and must be done when that hop ends, where its output starts playing.
        par = st[ST_PARITY]
        while i < n_in:
            take = min(hop - pos, n_in - i)
            if pos + take == hop:
                _emit(out, ready[par], pos + 1, i, take - 1, split, levels)
                _stages(hop, xw[0], spec[0], work[0], u[0], tt[0], acc, ready[1 - par],
                        head[0], mask, band_w, band_g, cur, freqs, axes, ws, st, pidx, unity,
                        prior, prior_at, refine, edits, edit_t, edit_r, slot[0])
                par = 1 - par
                st[ST_PARITY] = par
                _emit(out, ready[par], 0, i + take - 1, 1, split, levels)
                _window_ahead(frame, h0, hist, x, i + take, wa, xw[0], head[0])
                _glide(cur, tgt, coef, pidx, st, freqs, lows, highs, gains, band_w, band_g)
                st[ST_STAGE] = 1
                pos = 0
            else:
                _emit(out, ready[par], pos + 1, i, take, split, levels)
                pos += take
            i += take
        st[ST_POS] = pos
        st[ST_HIST] = _keep_history(frame, h0, hist, x, base + pos)
        # This block's share of the waiting frame's work: the stages due by this point of the hop.
        _stages(pos, xw[0], spec[0], work[0], u[0], tt[0], acc, ready[1 - par],
                head[0], mask, band_w, band_g, cur, freqs, axes, ws, st, pidx, unity, prior,
                prior_at, refine, edits, edit_t, edit_r, slot[0])
        return
    rd = ready[0]
    fs = 0      # slot of the next frame to finish
    m = 0       # frames analysed ahead, in slots 0 .. m-1
    first = 0   # frame number of slot 0
    # One pass per stretch of input up to the next hop boundary. Output sample i is
    # rd[pos + 1], or rd[0] of the new frame for the sample that completes a hop.
    while i < n_in:
        take = min(hop - pos, n_in - i)
        if pos + take == hop and fs == m:
            # The frames that complete in this block (up to BATCH; one at a time with hand
            # edits): window them, one forward FFT call, analyse each in order, one inverse
            # FFT call. Their overlap-add follows as their hops are played out.
            m = min(batch, (pos + n_in - i) // hop) if edits.shape[0] == 0 else 1
            for g in range(m):
                _window_ahead(frame, h0, hist, x, i + take + g * hop, wa, xw[g], head[g])
            r2c(xw[:m].reshape((2 * m, n)), spec[:m].reshape((2 * m, nb)), axes, True, 1.0, 1)
            first = st[ST_FRAMES]
            for g in range(m):
                _glide(cur, tgt, coef, pidx, st, freqs, lows, highs, gains, band_w, band_g)
                _analyse_frame(spec[g], work[g], tt[g], mask, band_w, band_g, cur, freqs, axes,
                               st, pidx, unity, prior, prior_at, refine, hop, slot[g])
            c2r(work[:m].reshape((2 * m, nb)), u[:m].reshape((2 * m, n)), axes, False, 1.0 / n, 1)
            fs = 0
        if pos + take == hop:
            _emit(out, rd, pos + 1, i, take - 1, split, levels)
            _finish(xw[fs], spec[fs], work[fs], u[fs], tt[fs], acc, rd, head[fs], mask, band_g,
                    freqs, axes, ws, edits, edit_t, edit_r, slot[fs], first + fs, st, unity)
            _emit(out, rd, 0, i + take - 1, 1, split, levels)
            pos = 0
            fs += 1
        else:
            _emit(out, rd, pos + 1, i, take, split, levels)
            pos += take
        i += take
    st[ST_POS] = pos
    st[ST_HIST] = _keep_history(frame, h0, hist, x, base + pos)


@njit(cache=True)
def _stages(at, xw, spec, work, u, tt, acc, ready, head, mask, band_w, band_g, cur, freqs,
            axes, ws, st, pidx, unity, prior, prior_at, refine, edits, edit_t, edit_r, slot):
    """Spread: run the waiting frame's stages due ``at`` samples into the hop (all of them at
    its end), in order: the forward FFT, the mask (the analysis the batched path does), the
    inverse FFT, then the overlap-add into ``ready``, the hop that plays next."""
    n = xw.shape[1]
    hop = ready.shape[2]
    upto = STAGES * at // hop
    while 0 < st[ST_STAGE] <= upto:
        s = st[ST_STAGE]
        if s == 1:
            r2c(xw, spec, axes, True, 1.0, 1)
        elif s == 2:
            _analyse_frame(spec, work, tt, mask, band_w, band_g, cur, freqs, axes, st, pidx,
                           unity, prior, prior_at, refine, hop, slot)
        elif s == 3:
            c2r(work, u, axes, False, 1.0 / n, 1)
        else:
            _finish(xw, spec, work, u, tt, acc, ready, head, mask, band_g, freqs, axes, ws,
                    edits, edit_t, edit_r, slot, st[ST_FRAMES] - 1, st, unity)
        st[ST_STAGE] = s + 1 if s < STAGES else 0


@njit(cache=True)
def _finish(xw, spec, work, u, tt, acc, ready, head, mask, band_g, freqs, axes, ws, edits, edit_t,
            edit_r, slot, frame_no, st, unity):
    """A frame's overlap-add into ``ready``: the stems' way or the gains' way."""
    if unity:
        _finish_unity(xw, spec, work, u, tt, acc, ready, head, mask, band_g, freqs, axes, ws,
                      edits, edit_t, edit_r, frame_no, st)
    else:
        _finish_frame(xw, spec, work, u, tt, acc, ready, mask, band_g, freqs, axes, ws, edits,
                      edit_t, edit_r, slot, frame_no, st)


@njit(cache=True)
def _finish_unity(xw, spec, work, u, tt, acc, ready, head, mask, band_g, freqs, axes, ws, edits,
                  edit_t, edit_r, frame_no, st):
    """:func:`_finish_frame` for stems (unity gains): only the target is overlap-added; the
    rest of the finished hop is its input (``head``) less the target. The windows overlap-add
    to exactly 1, so this is the rest the frames would give, one accumulator pass cheaper, and
    target + rest is the input to the last bit. A hand-edited frame's rest is not its input less
    its target: the difference is overlap-added in ``acc[1]`` for the frames it reaches
    (``st[ST_TAIL_R]``) and added back."""
    n = xw.shape[1]
    hop = ready.shape[2]
    edited = edits.shape[0] > 0 and edit_gains(edits, (frame_no + 1) * hop - 0.5 * n, spec,
                                               freqs, mask, edit_t, edit_r)
    if edited:
        # leaves the target in tt and u = xw - rest
        _edited_frame(spec, mask, band_g, False, edit_t, edit_r, work, tt, u, xw, axes, 1.0 / n)
    src = tt if edited else u
    for c in range(2):
        _overlap_add(acc[0, c], ready[0, c], ws, src[c], 1.0)
    d = 1.0 if edited else 0.0  # an edited frame's rest less (input - target): tt - u
    if _accumulates(st, ST_TAIL_R, d, n // hop):
        for c in range(2):
            _overlap_add_diff(acc[1, c], ready[1, c], ws, tt[c], u[c], d)
    else:
        ready[1] = 0.0
    for c in range(2):
        h = head[c]
        t = ready[0, c]
        r = ready[1, c]
        for j in range(hop):
            r[j] += h[j] - t[j]


@njit(cache=True)
def _keep_history(frame, h0, hist, x, keep):
    """Keep the last ``keep`` samples of the stream in ``frame``, from the column it returns:
    the ``hist`` held before the block (from column ``h0``), then the block ``x`` (non-finite
    samples as silence). A short block is appended where there is room, so that it moves only
    its own samples; when there is none, the history moves to column 0."""
    n_in = x.shape[1]
    if n_in < keep and h0 + hist + n_in <= frame.shape[1]:
        for c in range(2):
            new = x[c]
            dst = frame[c, h0 + hist:h0 + hist + n_in]   # views from 0, as in _window_ahead
            for j in range(n_in):
                v = new[j]
                dst[j] = v if math.isfinite(v) else 0.0
        return h0 + hist + n_in - keep
    old = max(keep - n_in, 0)  # samples kept from before the block
    for c in range(2):
        src = frame[c, h0 + hist - old:h0 + hist]
        new = x[c, n_in - keep + old:]
        dst = frame[c, old:keep]
        for j in range(old):
            frame[c, j] = src[j]
        for j in range(keep - old):
            v = new[j]
            dst[j] = v if math.isfinite(v) else 0.0
    return 0


@njit(cache=True)
def _window_ahead(frame, h0, hist, x, end, wa, xw, head):
    """Windowed frame of the stream samples ``end - n .. end - 1`` (``x`` indices): those
    before ``x[0]`` come from the ``hist`` samples held in ``frame`` from column ``h0``, the
    rest from ``x``.
    Its first hop, unwindowed, goes into ``head``."""
    n = xw.shape[1]
    hop = head.shape[1]
    start = end - n
    j0 = min(max(-start, 0), n)
    jh = min(j0, hop)  # of the head
    # Through views that start at 0 (views allocate nothing): numba then drops its
    # negative-index checks and the loops vectorise.
    wb = wa[j0:]
    for c in range(2):
        old = frame[c, h0 + hist + start:h0 + hist + start + j0]
        new = x[c, start + j0:end]
        xo = xw[c, :j0]
        xn = xw[c, j0:]
        for j in range(j0):
            xo[j] = old[j] * wa[j]
        for j in range(n - j0):
            v = new[j]
            xn[j] = (v if math.isfinite(v) else 0.0) * wb[j]
        ho = head[c, :jh]
        hn = head[c, jh:]
        for j in range(jh):
            ho[j] = old[j]
        for j in range(hop - jh):
            v = new[j]
            hn[j] = v if math.isfinite(v) else 0.0


@njit(cache=True)
def _emit(out, ready, src, dst, m, split, levels):
    """out[:, :, dst:dst+m] = ready[:, :, src:src+m], as two outputs or summed into one; their
    squares summed into ``levels`` (for meters)."""
    lt = 0.0
    lr = 0.0
    for c in range(2):
        rt = ready[0, c, src:src + m]   # views from 0, as in _window_ahead
        rr = ready[1, c, src:src + m]
        ot = out[0, c, dst:dst + m]
        if split:
            orr = out[1, c, dst:dst + m]
            for j in range(m):
                t = rt[j]
                r = rr[j]
                ot[j] = t
                orr[j] = r
                lt += t * t
                lr += r * r
        else:
            for j in range(m):
                t = rt[j]
                r = rr[j]
                ot[j] = t + r
                lt += t * t
                lr += r * r
    levels[0] += lt
    levels[1] += lr
