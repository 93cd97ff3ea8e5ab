"""The streaming overlap-add STFT kernel: any block size in, the same samples out.

Input samples go into a sliding frame; every ``hop`` samples one frame is analysed, masked and
overlap-added. Output sample ``i`` is always input sample ``i - latency`` processed, with
``latency = fft_size - 1`` (the last sample of a frame must arrive before the frame can be
transformed), so the result cannot depend on how the host cut the stream into blocks.

Two engines, one per entry point, give the same samples:

- :func:`process_batched`, for blocks of a hop or more (offline, large host blocks): the frames
  that complete in a block are transformed together, up to ``BATCH`` per FFT call;
- :func:`process_spread`, for blocks shorter than a hop (a live audio loop's): a frame's work is
  not done in the block that completes it but in four stages shared out over the blocks of the
  next hop, so that no block carries a whole frame. Its output is played one hop later:
  ``latency = fft_size - 1 + hop``.

Real-time safe: both write into the buffers :class:`Buffers` allocated once; the FFTs are
rocket-fft's low-level ``r2c``/``c2r`` into those buffers.

Reading order: the entry points; a frame's work in the order it is done (window, glide, analyse,
finish); the loops they share; then the buffers they all work in (the slot tables, the layout
and :class:`Buffers`, which allocates it). The tables stay in this file: numba's disk cache
notices a change to the file that holds a kernel, not to a module whose constants it read.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from rocket_fft import c2r, r2c

from .mask import (RF_ROWS, azimuth, band_table, compete_mask, compete_rows, delay_mask,
                   refine_mask, slice_mask)
from .params import MAX_RIVALS
from .regions import R_COLS, edit_gains


# -- entry points ----------------------------------------------------------------------------
@njit(cache=True)
def process_batched(x, out, floats, spectra, ints, edits, prior, prior_at):
    """Stream ``x`` [shape=(2, n)] into ``out``: the engine for blocks of a hop or more.

    Contract, as a JUCE ``processBlock`` or a nih-plug ``process``: any ``n >= 0`` (0 changes
    nothing but the meters); allocates no array and waits for nothing (it works in the buffers
    ``Engine.prepare`` allocated, the FFTs included); output sample ``i`` is input sample
    ``i - (fft_size - 1)``. ``out`` is (1, 2, n) for the mixed
    output (target + rest) or (2, 2, n) for the two outputs; ``floats``, ``spectra`` and
    ``ints`` are a :class:`Buffers`' flat arrays; ``edits`` its hand-edit rows, ``prior`` and
    ``prior_at`` its ML prior rows and their first frame. Non-finite input samples count as
    silence, so that one bad sample cannot poison the overlap-add.

    The frames that complete in a block (up to BATCH; one at a time with hand edits) are
    windowed and analysed together (:func:`_analyse_batch`); each one's overlap-add follows as
    its hop is played out.
    """
    state, history, acc, batch, split, levels = _open(x, out, floats, spectra, ints)
    ready = _view4(floats, ints, V_READY)[0]
    n, hop, n_in = acc.shape[2], ready.shape[2], x.shape[1]
    pos = state[ST_POS]
    hist = n - hop + pos          # input samples held in history, from column hist_at
    hist_at = state[ST_HIST]
    due = 0                       # batch slot of the next frame to finish
    analysed = 0                  # frames analysed ahead, in slots 0 .. analysed - 1
    first = 0                     # frame number of slot 0
    i = 0
    # One pass per stretch of input up to the next hop boundary. Output sample i is
    # ready[pos + 1], or ready[0] of the next hop for the sample that completes a hop.
    while i < n_in:
        take = min(hop - pos, n_in - i)
        if pos + take < hop:
            _emit(out, ready, pos + 1, i, take, split, levels)
            pos += take
        else:
            if due == analysed:
                analysed = 1 if edits.shape[0] > 0 else min(BATCH, (pos + n_in - i) // hop)
                first = state[ST_FRAMES]
                _analyse_batch(x, i + take, analysed, history, hist_at, hist, batch, floats,
                               ints, prior, prior_at)
                due = 0
            _emit(out, ready, pos + 1, i, take - 1, split, levels)
            _finish(_slot(batch, due), first + due, acc, ready, floats, ints, edits)
            _emit(out, ready, 0, i + take - 1, 1, split, levels)
            pos = 0
            due += 1
        i += take
    state[ST_POS] = pos
    state[ST_HIST] = _keep_history(history, hist_at, hist, x, n - hop + pos)


@njit(cache=True)
def process_spread(x, out, floats, spectra, ints, edits, prior, prior_at):
    """Stream ``x`` into ``out``: the engine for blocks shorter than a hop.

    Contract and arguments as :func:`process_batched`, with one hop more latency: output
    sample ``i`` is input sample ``i - (fft_size - 1 + hop)``. A frame completing here is
    windowed (its input is in hand only now) and its knobs glide; the rest of its work is done
    in stages over the blocks of the next hop (:func:`_run_stages`), and must be done when that
    hop ends, where its output starts playing.
    """
    state, history, acc, batch, split, levels = _open(x, out, floats, spectra, ints)
    ready = _view4(floats, ints, V_READY)   # [which hop, target|rest, channel, sample]
    n, hop, n_in = acc.shape[2], ready.shape[3], x.shape[1]
    playing = state[ST_PLAYING]   # the ready hop being played out; the other is filled
    pos = state[ST_POS]
    hist = n - hop + pos
    hist_at = state[ST_HIST]
    i = 0
    while i < n_in:
        take = min(hop - pos, n_in - i)
        if pos + take < hop:
            _emit(out, ready[playing], pos + 1, i, take, split, levels)
            pos += take
        else:
            _emit(out, ready[playing], pos + 1, i, take - 1, split, levels)
            _run_stages(hop, _slot(batch, 0), acc, ready[1 - playing], floats, ints, edits, prior,
                        prior_at)
            playing = 1 - playing
            state[ST_PLAYING] = playing
            _emit(out, ready[playing], 0, i + take - 1, 1, split, levels)
            _window_ahead(history, hist_at, hist, x, i + take, _vector(floats, ints, V_WA),
                          batch.windowed[0], batch.head[0])
            _glide(floats, ints)
            state[ST_STAGE] = 1
            pos = 0
        i += take
    state[ST_POS] = pos
    state[ST_HIST] = _keep_history(history, hist_at, hist, x, n - hop + pos)
    # This block's share of the waiting frame's work: the stages due by this point of the hop.
    _run_stages(pos, _slot(batch, 0), acc, ready[1 - playing], floats, ints, edits, prior, prior_at)


# -- a frame's work, in the order it is done -------------------------------------------------
@njit(cache=True, inline="always")
def _analyse_batch(x, end, count, history, hist_at, hist, batch, floats, ints, prior, prior_at):
    """Batched: the ``count`` frames ending at ``x`` sample ``end`` and each hop after, into
    batch slots 0 .. count - 1: window them, one forward FFT call, glide and analyse each in
    frame order, one inverse FFT call."""
    n = batch.windowed.shape[2]
    nb = batch.spectrum.shape[2]
    hop = batch.head.shape[2]
    axes = ints[I_AXES:I_AXES + 1]
    wa = _vector(floats, ints, V_WA)
    for g in range(count):
        _window_ahead(history, hist_at, hist, x, end + g * hop, wa, batch.windowed[g],
                      batch.head[g])
    r2c(batch.windowed[:count].reshape((2 * count, n)),
        batch.spectrum[:count].reshape((2 * count, nb)), axes, True, 1.0, 1)
    for g in range(count):
        _glide(floats, ints)
        _analyse_frame(_slot(batch, g), floats, ints, prior, prior_at)
    c2r(batch.masked[:count].reshape((2 * count, nb)),
        batch.sliced[:count].reshape((2 * count, n)), axes, False, 1.0 / n, 1)


@njit(cache=True)
def _run_stages(at, frame, acc, ready, floats, ints, edits, prior, prior_at):
    """Spread: run the waiting ``frame``'s stages due ``at`` samples into the hop (all of them
    at its end), in order: the forward FFT, the mask (the analysis the batched engine does), the
    inverse FFT, then the overlap-add into ``ready``, the hop that plays next."""
    state = ints[I_STATE:I_STATE + ST_SIZE]
    axes = ints[I_AXES:I_AXES + 1]
    n = frame.windowed.shape[1]
    hop = ready.shape[2]
    upto = STAGES * at // hop
    while 0 < state[ST_STAGE] <= upto:
        stage = state[ST_STAGE]
        if stage == 1:
            r2c(frame.windowed, frame.spectrum, axes, True, 1.0, 1)
        elif stage == 2:
            _analyse_frame(frame, floats, ints, prior, prior_at)
        elif stage == 3:
            c2r(frame.masked, frame.sliced, axes, False, 1.0 / n, 1)
        else:
            _finish(frame, state[ST_FRAMES] - 1, acc, ready, floats, ints, edits)
        state[ST_STAGE] = stage + 1 if stage < STAGES else 0


@njit(cache=True)
def _window_ahead(history, hist_at, hist, x, end, wa, windowed, head):
    """Windowed frame of the stream samples ``end - n .. end - 1`` (``x`` indices): those
    before ``x[0]`` come from the ``hist`` samples held in ``history`` from column ``hist_at``,
    the rest from ``x``. Its first hop, unwindowed, goes into ``head``."""
    n = windowed.shape[1]
    hop = head.shape[1]
    start = end - n
    j0 = min(max(-start, 0), n)
    jh = min(j0, hop)  # of the head
    # Through views that start at 0 (views allocate nothing): numba then drops its
    # negative-index checks and the loops vectorise.
    wb = wa[j0:]
    for ch in range(2):
        old = history[ch, hist_at + hist + start:hist_at + hist + start + j0]
        new = x[ch, start + j0:end]
        xo = windowed[ch, :j0]
        xn = windowed[ch, j0:]
        for j in range(j0):
            xo[j] = old[j] * wa[j]
        for j in range(n - j0):
            v = new[j]
            xn[j] = (v if math.isfinite(v) else 0.0) * wb[j]
        ho = head[ch, :jh]
        hn = head[ch, jh:]
        for j in range(jh):
            ho[j] = old[j]
        for j in range(hop - jh):
            v = new[j]
            hn[j] = v if math.isfinite(v) else 0.0


@njit(cache=True, inline="always")
def _glide(floats, ints):
    """Glide the knobs one hop toward their targets and rebuild the band table if a band
    moved: the part of a frame's analysis done as the frame completes, so that it sees the
    knobs as they are then whenever the rest of its work is done."""
    state = ints[I_STATE:I_STATE + ST_SIZE]
    slots = ints[I_KNOBS:I_KNOBS + N_KNOBS]
    knobs = _vector(floats, ints, V_KNOBS)
    bands_moved = _smooth(knobs, _vector(floats, ints, V_TARGETS),
                          _vector(floats, ints, V_GLIDE), slots)
    if bands_moved or state[ST_BANDS_DIRTY]:
        lows = _vector(floats, ints, V_LOWS)
        highs = _vector(floats, ints, V_HIGHS)
        gains = _vector(floats, ints, V_BAND_GAINS)
        count = int(knobs[slots[PI_BCOUNT]] + 0.5)
        b0 = slots[PI_BAND0]
        for b in range(count):
            lows[b] = knobs[b0 + 3 * b]
            highs[b] = knobs[b0 + 3 * b + 1]
            gains[b] = knobs[b0 + 3 * b + 2]
        state[ST_BANDS_UNIFORM] = band_table(_vector(floats, ints, V_FREQS), lows, highs, gains,
                                             count, _vector(floats, ints, V_BAND_W),
                                             _vector(floats, ints, V_BAND_G))
        state[ST_BANDS_DIRTY] = 0


@njit(cache=True, inline="always")
def _smooth(knobs, targets, glide, slots):
    """Advance every knob one hop toward its target; True if a band value moved."""
    bands_moved = False
    for i in range(knobs.shape[0]):
        value = knobs[i]
        target = targets[i]
        if value != target:
            value += (target - value) * glide[i]
            if abs(target - value) <= 1e-6 * (abs(target) + 1e-3):
                value = target
            knobs[i] = value
            if i == slots[PI_BCOUNT] or i >= slots[PI_BAND0]:
                bands_moved = True
    return bands_moved


@njit(cache=True)
def _analyse_frame(frame, floats, ints, prior, prior_at):
    """A frame up to its inverse FFT, in frame order, after its :func:`_glide`: write the
    masked spectrum into ``frame.masked`` (the caller transforms it into ``frame.sliced``), the
    per-band target into ``frame.banded`` when band gains differ, and the frame's gains into
    ``frame.gains``."""
    state = ints[I_STATE:I_STATE + ST_SIZE]
    slots = ints[I_KNOBS:I_KNOBS + N_KNOBS]
    knobs = _vector(floats, ints, V_KNOBS)
    band_w = _vector(floats, ints, V_BAND_W)
    mask = _vector(floats, ints, V_MASK)
    spec = frame.spectrum
    hop = frame.head.shape[1]
    _publish(spec, floats, ints)
    _direction_mask(spec, knobs, slots, _vector(floats, ints, V_FREQS), band_w,
                    _view2(floats, ints, V_COMPETE), mask)
    refine_mask(spec, knobs[slots[PI_PERC]], knobs[slots[PI_SMOOTH_MS]],
                knobs[slots[PI_SMOOTH_HZ]], knobs[slots[PI_AMBIENCE]], hop,
                _vector(floats, ints, V_FREQS), band_w, frame.refine, mask)
    # ML prior: m = m_slice * ((1 - a) + a * prior), so at a = 1 the slice is the ML mask inside
    # the azimuth window and the bands; frames without a prior row keep the azimuth mask.
    a = knobs[slots[PI_MLPRIOR]]
    row = state[ST_FRAMES] - prior_at[0]
    if a > 0.0 and 0 <= row < prior.shape[0]:
        for k in range(spec.shape[1]):
            mask[k] *= (1.0 - a) + a * prior[row, k]
    unity = ints[I_UNITY] != 0
    if unity:
        tg, rg, per_band = 1.0, 1.0, False
    else:
        tg = knobs[slots[PI_TGAIN]]
        rg = knobs[slots[PI_RGAIN]]
        per_band = state[ST_BANDS_UNIFORM] == 0
    tg = _apply_mask(spec, mask, _vector(floats, ints, V_BAND_G), band_w, per_band, unity, tg,
                     frame.masked, frame.banded, ints[I_AXES:I_AXES + 1])
    frame.gains[0] = tg
    frame.gains[1] = rg
    frame.gains[2] = 1.0 if per_band else 0.0
    state[ST_FRAMES] += 1


@njit(cache=True, inline="always")
def _direction_mask(spec, knobs, slots, freqs, band_w, compete, mask):
    """The mask by direction: the slice alone, or competing with its rivals for each bin (in
    the scratch rows ``compete``). direction_cue: 0 level, 1 delay, 2 both (with delay, its
    phase test replaces the level's)."""
    cue = knobs[slots[PI_CUE]]
    count = int(knobs[slots[PI_RIVALS]] + 0.5)
    if count > 0:
        r0 = slots[PI_RIVAL0]
        compete_mask(spec, cue, knobs[slots[PI_CENTER]], knobs[slots[PI_WIDTH]],
                     knobs[slots[PI_DELAY]], knobs[slots[PI_DELAY_W]], knobs[slots[PI_PHASE]],
                     knobs[slots[PI_SPACING]], knobs[r0:r0 + 2 * count], freqs, band_w,
                     compete[:compete_rows(count)], mask)
        return
    if cue == 1.0:
        mask[:] = band_w
    else:
        slice_mask(spec, knobs[slots[PI_CENTER]], knobs[slots[PI_WIDTH]], knobs[slots[PI_SOFT]],
                   knobs[slots[PI_PHASE]] if cue == 0.0 else 1.0, band_w, mask)
    if cue != 0.0:
        delay_mask(spec, knobs[slots[PI_DELAY]], knobs[slots[PI_DELAY_W]], knobs[slots[PI_SOFT]],
                   knobs[slots[PI_SPACING]], freqs, mask)


@njit(cache=True)
def _publish(spec, floats, ints):
    """Opt-in (``Engine.publish_frames``): this frame's power ``|L|^2 + |R|^2`` and azimuth
    per bin into the next slot of the ring of the last frames, then the count of frames
    published (``ints[I_PUBLISHED]``) one up. The one writer; the one reader
    (:class:`~panslice.dsp.frames.FrameReader`) tells by the count which slots it copied
    may have been overwritten meanwhile. Nothing to do for a ring of no slots."""
    ring = _view3(floats, ints, V_PUBLISHED)
    slots = ring.shape[0]
    if slots == 0:
        return
    count = ints[I_PUBLISHED]
    power = ring[count % slots, 0]
    az = ring[count % slots, 1]
    for k in range(spec.shape[1]):
        l = spec[0, k]
        r = spec[1, k]
        ml2 = l.real * l.real + l.imag * l.imag
        mr2 = r.real * r.real + r.imag * r.imag
        power[k] = ml2 + mr2
        az[k] = azimuth(ml2, mr2)
    ints[I_PUBLISHED] = count + 1


@njit(cache=True, inline="always")
def _apply_mask(spec, mask, band_g, band_w, per_band, unity, tg, masked, banded, axes):
    """Write ``spec * mask`` into ``masked``, and, when band gains differ, the per-band target
    (through its own inverse FFT) into ``banded``; return the target gain, into which a gain
    that all bands share is folded."""
    nb = spec.shape[1]
    if per_band:
        for ch in range(2):
            for k in range(nb):
                masked[ch, k] = spec[ch, k] * (mask[k] * band_g[k])
        c2r(masked, banded, axes, False, 1.0 / banded.shape[1], 1)
    elif not unity:
        for k in range(nb):
            if band_w[k] > 0.0:
                tg *= band_g[k]
                break
    for ch in range(2):
        for k in range(nb):
            masked[ch, k] = spec[ch, k] * mask[k]
    return tg


@njit(cache=True, inline="always")
def _finish(frame, frame_no, acc, ready, floats, ints, edits):
    """A frame's overlap-add into ``ready``: the stems' way or the gains' way (inlined: a
    choice, not a level of calls)."""
    if ints[I_UNITY] != 0:
        _finish_unity(frame, frame_no, acc, ready, floats, ints, edits)
    else:
        _finish_gains(frame, frame_no, acc, ready, floats, ints, edits)


@njit(cache=True)
def _finish_gains(frame, frame_no, acc, ready, floats, ints, edits):
    """A frame after its inverse FFT, in frame order: hand edits, then overlap-add.

    target = gain * sliced, rest = rest_gain * (windowed input - sliced): one inverse FFT per
    channel in the common case, and target + rest == input exactly at unity gains. Added,
    played out (the first hop) and shifted one hop in one pass over each accumulator; an
    output at gain 0 (karaoke's target, acapella's rest) is silence once its tail is out."""
    state = ints[I_STATE:I_STATE + ST_SIZE]
    ws = _vector(floats, ints, V_WS)
    n = frame.windowed.shape[1]
    hop = ready.shape[2]
    tg = frame.gains[0]
    rg = frame.gains[1]
    per_band = frame.gains[2] != 0.0
    if _edited(frame, frame_no, per_band, floats, ints, edits):
        per_band = True
    src = frame.banded if per_band else frame.sliced
    if _accumulates(state, ST_TAIL_T, tg, n // hop):
        for ch in range(2):
            _overlap_add(acc[0, ch], ready[0, ch], ws, src[ch], tg)
    else:
        ready[0] = 0.0
    if _accumulates(state, ST_TAIL_R, rg, n // hop):
        for ch in range(2):
            _overlap_add_diff(acc[1, ch], ready[1, ch], ws, frame.windowed[ch], frame.sliced[ch],
                              rg)
    else:
        ready[1] = 0.0


@njit(cache=True)
def _finish_unity(frame, frame_no, acc, ready, floats, ints, edits):
    """:func:`_finish_gains` for stems (unity gains): only the target is overlap-added; the
    rest of the finished hop is its input (``head``) less the target. The windows overlap-add
    to exactly 1, so this is the rest the frames would give, one accumulator pass cheaper, and
    target + rest is the input to the last bit. A hand-edited frame's rest is not its input
    less its target: the difference is overlap-added in ``acc[1]`` for the frames it reaches
    (``state[ST_TAIL_R]``) and added back."""
    state = ints[I_STATE:I_STATE + ST_SIZE]
    sliced, banded = frame.sliced, frame.banded
    ws = _vector(floats, ints, V_WS)
    n = sliced.shape[1]
    hop = ready.shape[2]
    # (the per-band flag is never set at unity gains)
    edited = _edited(frame, frame_no, frame.gains[2] != 0.0, floats, ints, edits)
    src = banded if edited else sliced
    for ch in range(2):
        _overlap_add(acc[0, ch], ready[0, ch], ws, src[ch], 1.0)
    d = 1.0 if edited else 0.0  # an edited frame's rest less (input - target): banded - sliced
    if _accumulates(state, ST_TAIL_R, d, n // hop):
        for ch in range(2):
            _overlap_add_diff(acc[1, ch], ready[1, ch], ws, banded[ch], sliced[ch], d)
    else:
        ready[1] = 0.0
    for ch in range(2):
        h = frame.head[ch]
        t = ready[0, ch]
        r = ready[1, ch]
        for j in range(hop):
            r[j] += h[j] - t[j]


@njit(cache=True)
def _edited(frame, frame_no, per_band, floats, ints, edits):
    """Hand edits of a frame: False, touching nothing, when no region reaches it; else its
    outputs rewritten with the regions' gains, leaving the target in ``frame.banded`` and
    ``frame.sliced`` such that ``windowed - sliced`` is the rest. Frame F covers input samples
    [(F+1)*hop - n, (F+1)*hop) and is judged at its centre. (With edits the batched engine runs
    one frame at a time, so the mask and the band gains are this frame's.)"""
    if edits.shape[0] == 0:
        return False
    spec, masked, sliced = frame.spectrum, frame.masked, frame.sliced
    n = sliced.shape[1]
    hop = frame.head.shape[1]
    mask = _vector(floats, ints, V_MASK)
    edit_t = _vector(floats, ints, V_EDIT_T)
    edit_r = _vector(floats, ints, V_EDIT_R)
    if not edit_gains(edits, (frame_no + 1) * hop - 0.5 * n, spec,
                      _vector(floats, ints, V_FREQS), mask, edit_t, edit_r):
        return False
    band_g = _vector(floats, ints, V_BAND_G)
    axes = ints[I_AXES:I_AXES + 1]
    for ch in range(2):
        for k in range(spec.shape[1]):
            gain = mask[k] * band_g[k] if per_band else mask[k]
            masked[ch, k] = spec[ch, k] * (gain * edit_t[k])
    c2r(masked, frame.banded, axes, False, 1.0 / n, 1)
    for ch in range(2):
        for k in range(spec.shape[1]):
            masked[ch, k] = spec[ch, k] * ((1.0 - mask[k]) * edit_r[k])
    c2r(masked, sliced, axes, False, 1.0 / n, 1)
    for ch in range(2):
        for j in range(n):
            sliced[ch, j] = frame.windowed[ch, j] - sliced[ch, j]
    return True


# -- the loops they share --------------------------------------------------------------------
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
def _accumulates(state, tail, gain, overlap):
    """Whether this frame must overlap-add into the accumulator whose tail count is
    ``state[tail]``: yes while the gain is not 0, and for the ``overlap - 1`` frames after,
    until what the accumulator held has been played out (it is all zeros from then on)."""
    if gain != 0.0:
        state[tail] = overlap
    if state[tail] > 0:
        state[tail] -= 1
        return True
    return False


@njit(cache=True, inline="always")
def _emit(out, ready, src, dst, m, split, levels):
    """out[:, :, dst:dst+m] = ready[:, :, src:src+m], as two outputs or summed into one; their
    squares summed into ``levels`` (for meters). Inlined: its callers pass constants, which
    would otherwise compile it once for each."""
    lt = 0.0
    lr = 0.0
    for ch in range(2):
        rt = ready[0, ch, src:src + m]   # views from 0, as in _window_ahead
        rr = ready[1, ch, src:src + m]
        ot = out[0, ch, dst:dst + m]
        if split:
            orr = out[1, ch, dst:dst + m]
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


@njit(cache=True, inline="always")
def _open(x, out, floats, spectra, ints):
    """What both entry points work in: (state, history, overlap-add accumulator, batch views,
    whether ``out`` takes two outputs, the meters' sums started for this block)."""
    return (ints[I_STATE:I_STATE + ST_SIZE], _view2(floats, ints, V_HISTORY),
            _view3(floats, ints, V_ACC), _batch_views(floats, spectra, ints), out.shape[0] == 2,
            _start_levels(floats, ints, x.shape[1]))


@njit(cache=True, inline="always")
def _start_levels(floats, ints, n_in):
    """The meters' sums for a new block of ``n_in`` samples: (target, rest, count)."""
    levels = _vector(floats, ints, V_LEVELS)
    levels[0] = 0.0
    levels[1] = 0.0
    levels[2] = n_in
    return levels


@njit(cache=True, inline="always")
def _keep_history(history, hist_at, hist, x, keep):
    """Keep the last ``keep`` samples of the stream in ``frame``, from the column it returns:
    the ``hist`` held before the block (from column ``hist_at``), then the block ``x``
    (non-finite samples as silence). A short block is appended where there is room, so that it
    moves only its own samples; when there is none, the history moves to column 0."""
    n_in = x.shape[1]
    end = hist_at + hist
    if n_in < keep and end + n_in <= history.shape[1]:
        for ch in range(2):
            new = x[ch]
            dst = history[ch, end:end + n_in]   # views from 0, as in _window_ahead
            for j in range(n_in):
                v = new[j]
                dst[j] = v if math.isfinite(v) else 0.0
        return end + n_in - keep
    old = max(keep - n_in, 0)  # samples kept from before the block
    for ch in range(2):
        src = history[ch, end - old:end]
        new = x[ch, n_in - keep + old:]
        dst = history[ch, old:keep]
        for j in range(old):
            history[ch, j] = src[j]
        for j in range(keep - old):
            v = new[j]
            dst[j] = v if math.isfinite(v) else 0.0
    return 0


# -- the buffers -----------------------------------------------------------------------------
# The kernel's buffers lie in three flat arrays, so that a kernel call unboxes a handful of
# arguments instead of thirty (each costs numba's dispatcher about 0.3 us and an allocation):
# ``floats`` (float64), ``spectra`` (complex128) and ``ints`` (int64: the state, the knob slots,
# the FFT axis, the unity flag and the view table). Every view is declared once, in LAYOUT;
# Buffers allocates from it and writes each view's offset and shape into the view table, from
# which the kernel rebuilds the view (_vector, _view2 .. _view4).

# ``ints[I_STATE:]``: the kernel's state between blocks.
ST_POS = 0            # samples in the current hop (0 .. hop-1)
ST_FRAMES = 1         # frames analysed since reset
ST_BANDS_DIRTY = 2    # the band table must be rebuilt
ST_BANDS_UNIFORM = 3  # every band has the same gain
# Frames for which acc[0] (target) and acc[1] (rest) may still hold non-zeros: an output whose
# gain is 0 (or a stem's rest, see _finish_unity) skips its overlap-add once they run out.
ST_TAIL_T = 4
ST_TAIL_R = 5
ST_STAGE = 6          # spread: next stage (1 .. STAGES) of the waiting frame, 0 if none
ST_PLAYING = 7        # spread: which of the two ready hops is being played out
ST_HIST = 8           # the column of ``history`` where the input history starts
ST_SIZE = 9
STAGES = 4            # forward FFT, mask, inverse FFT, overlap-add

# ``ints[I_KNOBS:]``: the knobs the kernel reads, one slot each, by registry name. The engine
# writes each one's registry index into its slot, as run-time data, so that a kernel cached on
# disk never holds a stale registry order; the kernel reads knob K as knobs[slots[K]].
KNOB_SLOTS = (
    (PI_CENTER := 0, "center"),
    (PI_WIDTH := 1, "width"),
    (PI_SOFT := 2, "softness"),
    (PI_PHASE := 3, "phase_tolerance"),
    (PI_TGAIN := 4, "target_gain_db"),
    (PI_RGAIN := 5, "rest_gain_db"),
    (PI_BCOUNT := 6, "band_count"),
    (PI_BAND0 := 7, "band.1.low_hz"),  # band b's low, high, gain: 3 * (b - 1) slots on
    (PI_MLPRIOR := 8, "ml_prior"),
    (PI_PERC := 9, "percussion_reject"),
    (PI_SMOOTH_MS := 10, "smooth_ms"),
    (PI_SMOOTH_HZ := 11, "smooth_hz"),
    (PI_AMBIENCE := 12, "ambience_ms"),
    (PI_CUE := 13, "direction_cue"),
    (PI_DELAY := 14, "delay_center_ms"),
    (PI_DELAY_W := 15, "delay_width_ms"),
    (PI_SPACING := 16, "mic_spacing_cm"),
    (PI_RIVALS := 17, "rivals"),
    (PI_RIVAL0 := 18, "rival.1.center"),  # rival i's center, delay_ms: 2 * (i - 1) slots on
)
N_KNOBS = len(KNOB_SLOTS)


class Sizes(NamedTuple):
    """What the view shapes depend on."""

    n: int           # FFT size
    hop: int
    nb: int          # bins: n // 2 + 1
    params: int      # registry size
    max_bands: int
    published: int   # frames the ring of published frames holds (0: none published)


# Frames transformed by one forward and one inverse FFT call when a block holds several:
# rocket-fft (pocketfft) vectorises across rows, about 1.5x faster per transform than one frame
# at a time.
BATCH = 8
HISTORY_ROOM = 8192  # columns after a frame's worth, so that the history seldom moves

# Every view: (number, flat array, shape), and what it holds. ``b`` slots hold one frame each.
LAYOUT = (
    # the input before the block, from column state[ST_HIST], then the block
    (V_HISTORY := 0, "floats", lambda s: (2, s.n + HISTORY_ROOM)),
    (V_WINDOWED := 1, "floats", lambda s: (BATCH, 2, s.n)),  # windowed frames
    (V_SLICED := 2, "floats", lambda s: (BATCH, 2, s.n)),    # inverse FFT of the masked frame
    (V_BANDED := 3, "floats", lambda s: (BATCH, 2, s.n)),    # the same with per-band gains
    (V_GAINS := 4, "floats", lambda s: (BATCH, 3)),   # target gain, rest gain, per-band flag
    (V_ACC := 5, "floats", lambda s: (2, 2, s.n)),    # overlap-add [target|rest, channel]
    # finished hops [which, target|rest, channel]: the one playing and (spread) the next
    (V_READY := 6, "floats", lambda s: (2, 2, 2, s.hop)),
    # each frame's first hop of input, unwindowed (a stem's rest is that less the target)
    (V_HEAD := 7, "floats", lambda s: (BATCH, 2, s.hop)),
    (V_MASK := 8, "floats", lambda s: (s.nb,)),       # per-bin mask
    (V_BAND_W := 9, "floats", lambda s: (s.nb,)),     # per-bin band membership
    (V_BAND_G := 10, "floats", lambda s: (s.nb,)),    # per-bin band gain
    (V_LOWS := 11, "floats", lambda s: (s.max_bands,)),       # the active bands' edges
    (V_HIGHS := 12, "floats", lambda s: (s.max_bands,)),
    (V_BAND_GAINS := 13, "floats", lambda s: (s.max_bands,)),  # ... and gains
    (V_KNOBS := 14, "floats", lambda s: (s.params,)),    # knob values, gliding (kernel units)
    (V_TARGETS := 15, "floats", lambda s: (s.params,)),  # ... their targets
    (V_GLIDE := 16, "floats", lambda s: (s.params,)),    # ... one-pole coefficients per hop
    (V_FREQS := 17, "floats", lambda s: (s.nb,)),     # bin frequencies
    (V_WA := 18, "floats", lambda s: (s.n,)),         # analysis window
    (V_WS := 19, "floats", lambda s: (s.n,)),         # synthesis window
    (V_EDIT_T := 20, "floats", lambda s: (s.nb,)),    # per-bin hand-edit gains, target
    (V_EDIT_R := 21, "floats", lambda s: (s.nb,)),    # ... rest
    (V_REFINE := 22, "floats", lambda s: (RF_ROWS, s.nb)),  # mask.refine_mask's rows
    # sums of squares of the target and the rest over the last block, and its sample count
    (V_LEVELS := 23, "floats", lambda s: (3,)),
    (V_SPECTRUM := 24, "spectra", lambda s: (BATCH, 2, s.nb)),  # each frame's spectrum
    (V_MASKED := 25, "spectra", lambda s: (BATCH, 2, s.nb)),    # ... masked (and scratch)
    # the last frames' [power, azimuth] per bin, for a picture (Engine.publish_frames)
    (V_PUBLISHED := 26, "floats", lambda s: (s.published, 2, s.nb)),
    (V_COMPETE := 27, "floats", lambda s: (compete_rows(MAX_RIVALS), s.nb)),  # compete_mask's rows
)

# ``ints``: state, knob slots, FFT axis, unity flag, frames published (never reset: the
# reader counts on it), then the view table.
I_STATE = 0
I_KNOBS = I_STATE + ST_SIZE
I_AXES = I_KNOBS + N_KNOBS
I_UNITY = I_AXES + 1
I_PUBLISHED = I_UNITY + 1
I_VIEWS = I_PUBLISHED + 1
VIEW_COLS = 5  # per view: its offset, then its shape (padded with 1s)


def _check_numbered(table: tuple) -> None:
    if [row[0] for row in table] != list(range(len(table))):
        raise AssertionError("a slot table must number its rows 0, 1, 2, ... in order")


_check_numbered(KNOB_SLOTS)
_check_numbered(LAYOUT)


class Batch(NamedTuple):
    """The views that hold one frame per batch slot (the spread engine uses slot 0), and the
    refinement rows: built once per block."""

    windowed: np.ndarray
    sliced: np.ndarray
    banded: np.ndarray
    gains: np.ndarray
    head: np.ndarray
    spectrum: np.ndarray
    masked: np.ndarray
    refine: np.ndarray


class Frame(NamedTuple):
    """One batch slot of :class:`Batch`: the buffers of one frame, handed down as one
    argument (and the refinement rows, which all frames share)."""

    windowed: np.ndarray   # (2, n)
    sliced: np.ndarray     # (2, n)
    banded: np.ndarray     # (2, n)
    gains: np.ndarray      # (3,): target gain, rest gain, per-band flag
    head: np.ndarray       # (2, hop)
    spectrum: np.ndarray   # (2, nb)
    masked: np.ndarray     # (2, nb)
    refine: np.ndarray     # (RF_ROWS, nb)


@njit(cache=True, inline="always")
def _batch_views(floats, spectra, ints):
    return Batch(_view3(floats, ints, V_WINDOWED), _view3(floats, ints, V_SLICED),
                 _view3(floats, ints, V_BANDED), _view2(floats, ints, V_GAINS),
                 _view3(floats, ints, V_HEAD), _view3(spectra, ints, V_SPECTRUM),
                 _view3(spectra, ints, V_MASKED), _view2(floats, ints, V_REFINE))


@njit(cache=True, inline="always")
def _slot(batch, g):
    """Batch slot ``g`` as a :class:`Frame` (inlined: callers pass 0 or a counter, and a
    constant would compile every callee of a Frame twice)."""
    return Frame(batch.windowed[g], batch.sliced[g], batch.banded[g], batch.gains[g],
                 batch.head[g], batch.spectrum[g], batch.masked[g], batch.refine)


@njit(cache=True, inline="always")
def _vector(flat, ints, view):
    """The 1-D view number ``view`` of ``flat`` (a slice: allocates nothing)."""
    at = I_VIEWS + VIEW_COLS * view
    return flat[ints[at]:ints[at] + ints[at + 1]]


@njit(cache=True, inline="always")
def _view2(flat, ints, view):
    at = I_VIEWS + VIEW_COLS * view
    d0, d1 = ints[at + 1], ints[at + 2]
    return flat[ints[at]:ints[at] + d0 * d1].reshape((d0, d1))


@njit(cache=True, inline="always")
def _view3(flat, ints, view):
    at = I_VIEWS + VIEW_COLS * view
    d0, d1, d2 = ints[at + 1], ints[at + 2], ints[at + 3]
    return flat[ints[at]:ints[at] + d0 * d1 * d2].reshape((d0, d1, d2))


@njit(cache=True, inline="always")
def _view4(flat, ints, view):
    at = I_VIEWS + VIEW_COLS * view
    d0, d1, d2, d3 = ints[at + 1], ints[at + 2], ints[at + 3], ints[at + 4]
    return flat[ints[at]:ints[at] + d0 * d1 * d2 * d3].reshape((d0, d1, d2, d3))


# Buffers' attribute names for the views, from their numbers: V_BAND_W -> band_w.
_NAMES = {v: name[2:].lower() for name, v in globals().items()
          if name.startswith("V_") and isinstance(v, int)}


class Buffers:
    """Everything the kernel reads and writes, allocated once in ``Engine.prepare`` from LAYOUT;
    the named attributes (one per view, lower case) are views into the flat arrays."""

    def __init__(self, sizes: Sizes, knob_index: np.ndarray, freqs: np.ndarray, unity: bool):
        shapes = [shape(sizes) for _, _, shape in LAYOUT]
        self.ints = np.zeros(I_VIEWS + VIEW_COLS * len(LAYOUT), np.int64)
        ends = {"floats": 0, "spectra": 0}
        offsets = []
        for (k, flat, _), dims in zip(LAYOUT, shapes):
            offsets.append(ends[flat])
            ends[flat] += math.prod(dims)
            padded = dims + (1,) * (VIEW_COLS - 1 - len(dims))
            row = I_VIEWS + VIEW_COLS * k
            self.ints[row:row + VIEW_COLS] = (offsets[-1],) + padded
        self.floats = np.zeros(ends["floats"])
        self.spectra = np.zeros(ends["spectra"], np.complex128)
        flats = {"floats": self.floats, "spectra": self.spectra}
        for (k, flat, _), dims, at in zip(LAYOUT, shapes, offsets):
            setattr(self, _NAMES[k], flats[flat][at:at + math.prod(dims)].reshape(dims))
        self.state = self.ints[I_STATE:I_STATE + ST_SIZE]
        self.ints[I_KNOBS:I_KNOBS + N_KNOBS] = knob_index
        self.ints[I_AXES] = 1
        self.ints[I_UNITY] = int(unity)
        self.band_g[:] = 1.0
        self.band_gains[:] = 1.0
        self.glide[:] = 1.0
        self.freqs[:] = freqs
        self.edit_t[:] = 1.0
        self.edit_r[:] = 1.0
        # Hand edits (see regions.py): rows set by Engine.set_edits, per-bin gains per frame.
        self.edits = np.zeros((0, R_COLS))
        # ML prior (Engine.set_prior): one vocal-mask row per frame from frame prior_at[0] on.
        self.prior = np.ones((0, sizes.nb), np.float32)
        self.prior_at = np.zeros(1, np.int64)
        # frames written into ``published`` so far (a view: the kernel counts in ``ints``)
        self.published_count = self.ints[I_PUBLISHED:I_PUBLISHED + 1]

    def reset(self) -> None:
        for a in (self.state, self.history, self.windowed, self.sliced, self.banded, self.acc,
                  self.ready, self.head, self.mask, self.refine, self.levels):
            a[...] = 0
        self.knobs[:] = self.targets
        self.state[ST_BANDS_DIRTY] = 1
