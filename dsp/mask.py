"""Per-bin slice masks: azimuth from level and phase, delay from phase, the slice shape, and
the band table.

Real-time safe: every function here is ``njit(cache=True)``, writes into arrays it is given and
allocates nothing.

The azimuth scale is the constant-power pan law of a DAW pan knob: a source at pan ``p`` has
gains ``L = cos t``, ``R = sin t`` with ``t = (p + 1) * pi / 4``, so ``p = 4 t / pi - 1`` with
``t = atan2(|R|, |L|)``. This is the level half of ADRess-style azimuth discrimination
(Barry, Lawlor & Coyle, DAFx 2004); the phase half weighs down bins whose channels disagree in
phase (reverb, wide stereo), which no single pan position explains.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

HALF_PI = 0.5 * math.pi
TWO_PI = 2.0 * math.pi
FOUR_OVER_PI = 4.0 / math.pi


@njit(cache=True, inline="always")
def _atan01(z):
    # Minimax polynomial for atan on [0, 1]; max error about 1e-5 rad.
    z2 = z * z
    return z * (0.99997726 + z2 * (-0.33262347 + z2 * (0.19354346 + z2 * (
        -0.11643287 + z2 * (0.05265332 + z2 * -0.01172120)))))


@njit(cache=True, inline="always")
def _angle(x, y):
    # atan2(y, x) from _atan01 and selects (math.atan2 does not vectorise); 0 at the origin.
    ax = abs(x)
    ay = abs(y)
    lo = ax if ax < ay else ay
    hi = ay if ax < ay else ax
    a = _atan01(lo / hi if hi > 0.0 else 0.0)
    a = HALF_PI - a if ay > ax else a
    a = math.pi - a if x < 0.0 else a
    return -a if y < 0.0 else a


@njit(cache=True, inline="always")
def azimuth(ml2, mr2):
    """Pan position in [-1, 1] from the squared magnitudes of one bin's left and right values."""
    lo = ml2 if ml2 < mr2 else mr2
    hi = mr2 if ml2 < mr2 else ml2
    z = math.sqrt(lo / hi) if hi > 0.0 else 0.0
    a = _atan01(z)
    t = HALF_PI - a if mr2 > ml2 else a
    return t * FOUR_OVER_PI - 1.0 if hi > 0.0 else 0.0


@njit(cache=True, inline="always")
def _raised_cos(x):
    # 0.5 + 0.5 cos(pi x): 1 at or below x = 0, 0 at or above x = 1, a raised-cosine step
    # between. A Taylor series of sin about the midpoint (error below 1e-13) instead of math.cos,
    # and selects instead of branches, so that loops calling it vectorise.
    u = math.pi * (x - 0.5)
    u2 = u * u
    s = u * (1.0 + u2 * (-1.0 / 6.0 + u2 * (1.0 / 120.0 + u2 * (-1.0 / 5040.0 + u2 * (
        1.0 / 362880.0 + u2 * (-1.0 / 39916800.0 + u2 * (1.0 / 6227020800.0 + u2 * (
            -1.0 / 1307674368000.0 + u2 * (1.0 / 355687428096000.0)))))))))
    v = 0.5 - 0.5 * s
    return 1.0 if x <= 0.0 else (0.0 if x >= 1.0 else v)


@njit(cache=True, inline="always")
def slice_shape(d, inner, outer):
    """1 inside ``inner``, 0 beyond ``outer``, a raised-cosine fade between (d = |p - center|)."""
    return _raised_cos((d - inner) / (outer - inner))


@njit(cache=True, fastmath=True)
def slice_mask(S, center, width, softness, phase_tol, band_w, out):
    """Write the slice mask (0..1) of one stereo frame ``S`` [shape=(2, bins)] into ``out``.

    Branch-free per bin (selects, no early exits) so that LLVM vectorises the loop; the
    raised-cosine edge uses :func:`_raised_cos` instead of ``math.cos`` for the same reason.
    """
    inner = width * (1.0 - softness)
    outer = width * (1.0 + softness)
    if outer <= inner:
        outer = inner + 1e-9
    use_phase = phase_tol < 1.0
    inv_tol = 1.0 / phase_tol if phase_tol > 1e-12 else 1e12
    for k in range(S.shape[1]):
        l = S[0, k]
        r = S[1, k]
        ml2 = l.real * l.real + l.imag * l.imag
        mr2 = r.real * r.real + r.imag * r.imag
        m = slice_shape(abs(azimuth(ml2, mr2) - center), inner, outer)
        if use_phase:
            den2 = ml2 * mr2
            den = math.sqrt(den2) if den2 > 0.0 else 1.0
            # 0 when in phase, 1 when in anti-phase.
            pd = 0.5 - 0.5 * (l.real * r.real + l.imag * r.imag) / den
            w = 1.0 - pd * inv_tol
            w = w if w > 0.0 else 0.0
            m *= w if den2 > 0.0 else 1.0
        out[k] = m * band_w[k]


SPEED_OF_SOUND = 343.0  # m/s, in air at 20 C


@njit(cache=True, fastmath=True)
def delay_mask(S, delay_ms, delay_width_ms, softness, spacing_cm, freqs, out):
    """Narrow the mask ``out`` of one stereo frame ``S`` to the slice by delay, in place.

    A source nearer the right microphone reaches the left one ``d`` samples later, which turns
    each bin's phase of ``R conj(L)`` by ``w d`` (``w`` in radians per sample). A bin's distance
    from the slice's delay ``dc`` is that phase less ``w dc``, wrapped, over ``w``: its own delay
    where the phase is unambiguous, below the spatial-aliasing frequency of the spacing (DUET,
    Rickard and Yilmaz). Above it the divisor stays at its value there, so a bin counts by how
    well its phase agrees with ``dc`` within the phase that the width has at that frequency.
    """
    nb = S.shape[1]
    n = 2 * (nb - 1)
    rate = freqs[1] * n
    dc = delay_ms * 1e-3 * rate
    d_in = delay_width_ms * 1e-3 * rate * (1.0 - softness)
    d_out = delay_width_ms * 1e-3 * rate * (1.0 + softness)
    d_out = d_out if d_out > d_in else d_in + 1e-9
    # where the largest delay the spacing allows turns the phase by pi
    w_alias = math.pi * SPEED_OF_SOUND / (spacing_cm * 1e-2 * rate)
    step = 2.0 * math.pi / n
    for k in range(nb):
        l = S[0, k]
        r = S[1, k]
        w = k * step
        # the phase of R conj(L) less w dc, wrapped into -pi .. pi
        off = _angle(r.real * l.real + r.imag * l.imag, r.imag * l.real - r.real * l.imag) - w * dc
        off = abs(off - TWO_PI * np.floor(off * (1.0 / TWO_PI) + 0.5))  # (vectorises)
        wt = w if w < w_alias else w_alias
        out[k] *= slice_shape(off / wt if wt > 0.0 else 0.0, d_in, d_out)


# A competing slice's reach, in widths: a bin farther than this from the slice and from every
# rival goes to the rest. Chosen on the synthetic talkers of benchmarks/voices.py (anechoic 10
# and 30 cm, RT60 0.3 s at 5 and 20 cm, 16 kHz): 3 and 4 gave within 0.1 dB, 2 lost 0.4. On
# the choose talkers of benchmarks/rivals_choose.py (espeak-ng; anechoic / RT60 0.3 s), over 4:
# 2.5 -0.3 / -0.5 dB, 6 +0.06 / +0.14, 8 +0.06 / +0.20 (the left and right talkers at 30 cm
# gain most: their phases agree again every few hundred Hz, and such bins are far from both).
REACH = 8.0


@njit(cache=True, inline="always")
def _bell(e):
    # exp(-e / 2) for e >= 0, as (1 - e / 512)^256 (0 beyond e = 512): within 1 % up to e = 4,
    # 13 % at e = 16, and multiplies only, so that loops calling it vectorise (math.exp does
    # not here, and cost three times the rest of a competing mask).
    y = 1.0 - e * (1.0 / 512.0)
    y = y if y > 0.0 else 0.0
    for _ in range(8):
        y = y * y
    return y


# The activity prior of competing slices by delay. Above the frequency where the farthest
# source's delay turns the phase by pi, the phases of two sources' delays agree again every few
# hundred Hz, and such a bin is split evenly between them; but speech is sparse: in one frame and
# one region of frequency one talker usually dominates. So there each source's weight is
# multiplied by ``(sources * p)^0.75``, where ``p`` is the mean of its share of the frame's power
# in the ACTIVITY_BAND_HZ-wide band the bin lies in and in the frame's unambiguous bins (no less
# than ACTIVITY_FLOOR, then normalised over the sources): the EM step of MESSL, or of DUET with
# priors, taken once, from this frame alone (no memory, no latency). Level-only slices get none
# (their bins are not ambiguous; on the choose set's level-placed talkers it moved -0.1 to
# +0.1 dB). Chosen on the choose talkers of benchmarks/rivals_choose.py (a numpy prototype that
# matched the kernel to 0.001 dB), mean lift over none, espeak-ng anechoic / RT60 0.3 s / pure
# delays and pans, then synthetic the same: +0.60 / +0.16 / +0.39, +0.59 / +0.02 / +0.43 dB, no
# choose row lower. The exponent 1: +0.65 / +0.20 / +0.42, +0.62 / +0.02 / +0.44, but on
# voices.py's synthetic left + right talkers at 30 cm -0.56 dB (0.75: -0.25, 0.7: -0.18): 0.75
# (two square roots, cheaper than a pow per source and band) is the pick of near-equal
# ones by that row of voices.py, not by the choose set alone; 0.5 and 0.7 +0.31 and +0.36 dB on
# average. Octave or half-octave bands 0.06 and 0.15 dB below 1 kHz bands; the band
# alone (no unambiguous share) 0.1 dB lower, the unambiguous share alone 0.3 dB lower; held over
# past frames (10 to 30 ms) up to 0.1 dB lower, and from past frames only it lost. Acting on
# every bin (not only the ambiguous ones) gained 0.04 dB more on average but lost 0.22 dB on one
# choose row (RT60 0.3 s, 5 cm) and up to 0.8 dB on voices.py's synthetic talkers at 5-10 cm.
ACTIVITY_BAND_HZ = 1000.0
ACTIVITY_BANDS = 8       # the last one from 7 kHz up
ACTIVITY_FLOOR = 0.02


@njit(cache=True)
def compete_rows(rivals):
    """The scratch rows compete_mask needs for ``rivals`` rivals: four, and a weight row per
    source."""
    return 5 + rivals


@njit(cache=True, fastmath=True)
def compete_mask(S, cue, center, width, delay_ms, delay_width_ms, phase_tol, spacing_cm,
                 rivals, freqs, band_w, scratch, out):
    """Write the mask (0..1) of a slice that competes with rivals for the bins of frame ``S``.

    ``rivals`` holds each rival's azimuth and delay (ms), in turn. Each bin is shared among the
    slice and its rivals by its distance ``d`` to each (in widths, on the axes ``cue`` picks;
    the delay read from the phase as delay_mask reads it): weights ``exp(-d^2 / 2)``
    normalised over all of them and the rest's ``exp(-REACH^2 / 2)`` (DUET, Rickard and
    Yilmaz, made soft). So the slices of several sources, each rendered with the others as its
    rivals, share a bin between them instead of each keeping it or none, and a bin far from
    all of them is left to the rest. By delay, the bins whose phase is ambiguous follow the
    frame's activity prior (ACTIVITY_BAND_HZ). With the level cue alone, the phase test
    (``phase_tol``) weighs the share down as slice_mask does. ``scratch``: compete_rows(rivals)
    rows of bins, rewritten.
    """
    nb = S.shape[1]
    n = 2 * (nb - 1)
    rate = freqs[1] * n
    to_samples = 1e-3 * rate
    inv_width = 1.0 / width if width > 1e-9 else 1e9
    dwidth = delay_width_ms * to_samples
    inv_dwidth = 1.0 / dwidth if dwidth > 1e-9 else 1e9
    w_alias = math.pi * SPEED_OF_SOUND / (spacing_cm * 1e-2 * rate)
    step = 2.0 * math.pi / n
    az, inv_wt, total, power = scratch[0], scratch[1], scratch[2], scratch[3]
    ph = out   # the phase, until the mask replaces it
    az[:] = 0.0
    ph[:] = 0.0
    for k in range(nb if cue != 1.0 else 0):
        l = S[0, k]
        r = S[1, k]
        az[k] = azimuth(l.real * l.real + l.imag * l.imag, r.real * r.real + r.imag * r.imag)
    for k in range(nb if cue != 0.0 else 0):
        l = S[0, k]
        r = S[1, k]
        ph[k] = _angle(r.real * l.real + r.imag * l.imag, r.imag * l.real - r.real * l.imag)
        power[k] = l.real * l.real + l.imag * l.imag + r.real * r.real + r.imag * r.imag
    for k in range(nb):
        wt = k * step if k * step < w_alias else w_alias
        inv_wt[k] = inv_dwidth / wt if wt > 0.0 else 0.0
        total[k] = _bell(REACH * REACH)
    # each rival's weight, then the slice's own, one row each
    count = rivals.shape[0] // 2
    far = 0.0
    for i in range(count + 1):
        a = rivals[2 * i] if i < count else center
        dc = (rivals[2 * i + 1] if i < count else delay_ms) * to_samples
        far = max(far, abs(dc))
        _add_weights(az, ph, inv_wt, step, cue, a, inv_width, dc, total, scratch[4 + i])
    if cue != 0.0 and far > 0.0:
        _activity_prior(count + 1, min(0.5 * n / far, nb), freqs[1], scratch, out)
    own = scratch[4 + count]
    use_phase = cue == 0.0 and phase_tol < 1.0
    inv_tol = 1.0 / phase_tol if phase_tol > 1e-12 else 1e12
    for k in range(nb):
        m = own[k] / total[k]
        if use_phase:
            m *= _phase_weight(S[0, k], S[1, k], inv_tol)
        out[k] = m * band_w[k]


@njit(cache=True, inline="always")
def _add_weights(az, ph, inv_wt, step, cue, center, inv_width, dc, total, into):
    # ``into`` = each bin's weight exp(-d^2 / 2) for the direction (center, dc samples), and
    # total += it.
    use_az = 1.0 if cue != 1.0 else 0.0
    use_delay = 1.0 if cue != 0.0 else 0.0
    for k in range(az.shape[0]):
        e = (az[k] - center) * inv_width
        off = ph[k] - k * step * dc
        off = abs(off - TWO_PI * np.floor(off * (1.0 / TWO_PI) + 0.5))
        d = off * inv_wt[k]
        wgt = _bell(use_az * e * e + use_delay * d * d)
        wgt = wgt if wgt > 1e-30 else 0.0   # (no subnormals: the prior's passes would crawl)
        total[k] += wgt
        into[k] = wgt


@njit(cache=True, fastmath=True)
def _activity_prior(sources, clear, hz_per_bin, scratch, shares):
    # Multiply the weights (scratch rows 4 ..) of the bins from ``clear`` on (where the farthest
    # source turns the phase by pi) by each source's activity prior, and total them again.
    # ``shares`` (any row of at least sources * (ACTIVITY_BANDS + 1)): per source, its share of
    # the power in each band, then in the bins below ``clear``; then the gains in their place.
    # The loops run over views that start at 0 (numba then drops its negative-index checks and
    # they vectorise; with a start only known at run time they took four times as long).
    nb = scratch.shape[1]
    first = int(math.ceil(clear))
    if first >= nb:
        return
    total, post = scratch[2], scratch[3]
    cols = ACTIVITY_BANDS + 1
    for k in range(nb):   # each bin's power (row 3) over its total weight
        post[k] /= total[k]
    for i in range(sources):
        w = scratch[4 + i]
        for b in range(cols):
            lo = _band_start(b, hz_per_bin, nb) if b < ACTIVITY_BANDS else 0
            hi = _band_start(b + 1, hz_per_bin, nb) if b < ACTIVITY_BANDS else first
            shares[i * cols + b] = _dot(w[lo:hi], post[lo:hi])
    _activity_gains(shares, sources)
    rest = _bell(REACH * REACH)
    tail = total[first:]
    for k in range(nb - first):
        tail[k] = rest
    for i in range(sources):
        w = scratch[4 + i]
        for b in range(ACTIVITY_BANDS):
            lo = max(first, _band_start(b, hz_per_bin, nb))
            hi = _band_start(b + 1, hz_per_bin, nb)
            _scale_add(w[lo:hi], shares[i * cols + b], total[lo:hi])


@njit(cache=True, fastmath=True, inline="always")
def _dot(x, y):
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k] * y[k]
    return s


@njit(cache=True, fastmath=True, inline="always")
def _scale_add(w, g, total):
    # w *= g, and total += the new w
    for k in range(w.shape[0]):
        x = w[k] * g
        w[k] = x
        total[k] += x


@njit(cache=True, inline="always")
def _band_start(b, hz_per_bin, nb):
    # the first bin of activity band ``b`` (nb for the one past the last)
    if b >= ACTIVITY_BANDS:
        return nb
    return min(nb, int(math.ceil(b * ACTIVITY_BAND_HZ / hz_per_bin)))


@njit(cache=True, inline="always")
def _activity_gains(shares, sources):
    # Normalise each column of ``shares`` over the sources (even when it holds no power), then
    # turn each band's into its gain, in place.
    cols = ACTIVITY_BANDS + 1
    for b in range(cols):
        s = 0.0
        for i in range(sources):
            s += shares[i * cols + b]
        for i in range(sources):
            shares[i * cols + b] = shares[i * cols + b] / s if s > 0.0 else 1.0 / sources
    for b in range(ACTIVITY_BANDS):
        s = 0.0
        for i in range(sources):
            p = 0.5 * (shares[i * cols + b] + shares[i * cols + ACTIVITY_BANDS])
            p = p if p > ACTIVITY_FLOOR else ACTIVITY_FLOOR
            shares[i * cols + b] = p
            s += p
        for i in range(sources):   # x^0.75, as two square roots (cheaper than a pow)
            x = math.sqrt(sources * shares[i * cols + b] / s)
            shares[i * cols + b] = x * math.sqrt(x)


@njit(cache=True, inline="always")
def _phase_weight(l, r, inv_tol):
    # slice_mask's phase test: 1 in phase, falling to 0 at a phase difference of phase_tol.
    ml2 = l.real * l.real + l.imag * l.imag
    mr2 = r.real * r.real + r.imag * r.imag
    den2 = ml2 * mr2
    den = math.sqrt(den2) if den2 > 0.0 else 1.0
    w = 1.0 - (0.5 - 0.5 * (l.real * r.real + l.imag * r.imag) / den) * inv_tol
    return (w if w > 0.0 else 0.0) if den2 > 0.0 else 1.0


# Rows of the refinement state (``Buffers.refine``, shape (RF_ROWS, bins)): per-bin memories
# kept from frame to frame, and scratch rows rewritten every frame.
RF_LEVEL, RF_TARGET, RF_REST, RF_A, RF_B, RF_C = range(6)
RF_ROWS = 6

# Fixed shapes of the percussion detector; its strength is the ``percussion_reject`` knob.
PERC_HOLD_MS = 23.0      # how long a bin's steady level is remembered
PERC_SPAN_HZ = 130.0     # half-width of the broadband (across-frequency) average
PERC_SPAN_MIN = 4        # ... and its least half-width in bins


@njit(cache=True)
def refine_mask(S, percussion, smooth_ms, smooth_hz, ambience_ms, hop, freqs, band_w, state,
                mask):
    """Refine the slice mask of one frame in place, after :func:`slice_mask`.

    1. ``percussion`` (0..1): keep percussive bins out of the slice, see :func:`_percussive`.
    2. ``smooth_ms`` / ``smooth_hz`` / ``ambience_ms``: Wiener-like refinement, see
       :func:`_wiener`.

    Both look at past frames only (one-pole memories in ``state``), so no latency is added;
    each step is skipped when its knob is 0, leaving the plain azimuth mask.
    """
    hz_per_bin = freqs[1]
    frame_s = hop / (hz_per_bin * 2.0 * (freqs.shape[0] - 1)) if hz_per_bin > 0.0 else 0.0
    if percussion > 0.0:
        keep = math.exp(-frame_s / (PERC_HOLD_MS * 1e-3))
        # At least PERC_SPAN_MIN bins each side: a steady tone spreads over about three bins
        # of the window's main lobe, so with coarse bins (small FFT, high rate) a narrower box
        # would call it broadband.
        half = max(PERC_SPAN_MIN, int(PERC_SPAN_HZ / hz_per_bin + 0.5))
        _percussive(S, percussion, half, keep, state, mask)
    if smooth_ms > 0.0 or smooth_hz > 0.0 or ambience_ms > 0.0:
        keep = _decay(frame_s, smooth_ms * 1e-3)
        hold = _decay(frame_s, ambience_ms * 1e-3)
        _wiener(S, int(smooth_hz / hz_per_bin + 0.5), keep, max(keep, hold), band_w, state, mask)


@njit(cache=True, inline="always")
def _decay(frame_s, tau_s):
    # One-pole memory per frame for a time constant; 0 (no memory) when tau_s is 0, including
    # a knob so tiny (5e-324 ms) that its seconds underflow to 0.
    return math.exp(-frame_s / tau_s) if tau_s > 0.0 else 0.0


@njit(cache=True, fastmath=True)
def _percussive(S, strength, half, keep, state, mask):
    # A harmonic bin (voice, sustained notes) is steady in time and peaky across frequency; a
    # percussive one (kick, snare, hats) is a broadband burst. H = the bin's magnitude held over
    # past frames (one-pole), P = this frame's magnitude averaged over +/- half bins;
    # mask *= 1 - s + s * H^2 / (H^2 + P^2). Means and a causal hold stand in for the medians of
    # Fitzgerald's harmonic/percussive separation (DAFx 2010): cheap, and no future frames.
    nb = S.shape[1]
    mag = state[RF_A]
    held = state[RF_LEVEL]
    for k in range(nb):
        l = S[0, k]
        r = S[1, k]
        m = math.sqrt(l.real * l.real + l.imag * l.imag + r.real * r.real + r.imag * r.imag)
        mag[k] = m
        held[k] = keep * held[k] + (1.0 - keep) * m
    wide = state[RF_B]
    _box_mean(mag, half, wide)
    for k in range(nb):
        h2 = held[k] * held[k]
        p2 = wide[k] * wide[k]
        h = h2 / (h2 + p2) if h2 + p2 > 0.0 else 1.0
        mask[k] *= 1.0 - strength + strength * h


@njit(cache=True, fastmath=True)
def _wiener(S, half, keep, hold, band_w, state, mask):
    # The mask splits each bin's power into target (mask * |X|^2) and rest ((1 - mask) * |X|^2).
    # Average both over +/- half neighbouring bins and hold them one-pole over frames, then
    # re-derive mask = T / (T + R): a local Wiener gain. A bin then follows its neighbourhood,
    # which removes isolated misclassified bins ("musical noise") and fills holes in a voice.
    # The target power rises with ``keep`` but falls with the slower ``hold``: the slice's own
    # reverb tail, which sits off its azimuth, follows it out ("ambience follows target").
    nb = S.shape[1]
    t = state[RF_A]
    r = state[RF_B]
    for k in range(nb):
        l = S[0, k]
        rr = S[1, k]
        p = l.real * l.real + l.imag * l.imag + rr.real * rr.real + rr.imag * rr.imag
        t[k] = mask[k] * p
        r[k] = p - t[k]
    box = state[RF_C]
    pt = state[RF_TARGET]
    pr = state[RF_REST]
    _box_mean(t, half, box)
    for k in range(nb):
        a = keep if box[k] > pt[k] else hold
        pt[k] = a * pt[k] + (1.0 - a) * box[k]
    _box_mean(r, half, box)
    for k in range(nb):
        pr[k] = keep * pr[k] + (1.0 - keep) * box[k]
        s = pt[k] + pr[k]
        mask[k] = (pt[k] / s if s > 0.0 else 0.0) * band_w[k]


@njit(cache=True, fastmath=True)
def _box_mean(x, half, out):
    # out[k] = mean of x[k - half .. k + half], clipped at the ends. Inside, a few shifted
    # passes for a narrow box (they vectorise) or one running sum for a wide one; direct sums
    # over the first and last ``half`` bins.
    n = x.shape[0]
    h = half if 2 * half + 1 <= n else (n - 1) // 2
    for k in range(h):
        a = 0.0
        b = 0.0
        for j in range(k + h + 1):
            a += x[j]
            b += x[n - 1 - j]
        out[k] = a / (k + h + 1)
        out[n - 1 - k] = b / (k + h + 1)
    # Inside, through views that start at 0 (views allocate nothing): numba then drops its
    # negative-index checks and the passes vectorise.
    inv = 1.0 / (2 * h + 1)
    m = n - 2 * h
    mid = out[h:n - h]
    if h <= 8:
        for j in range(m):
            mid[j] = x[j]
        for e in range(1, 2 * h + 1):
            xe = x[e:e + m]
            for j in range(m):
                mid[j] += xe[j]
        for j in range(m):
            mid[j] *= inv
        return
    far = x[2 * h + 1:]
    s = 0.0
    for j in range(2 * h + 1):
        s += x[j]
    for j in range(m - 1):
        mid[j] = (s if s > 0.0 else 0.0) * inv
        s += far[j] - x[j]
    mid[m - 1] = (s if s > 0.0 else 0.0) * inv


@njit(cache=True)
def band_table(freqs, lows, highs, gains, count, band_w, band_g):
    """Fill per-bin band membership (0..1) and slice gain (linear) from the active bands.

    Band edges fade over 1/12 octave on each side so that a band edge does not ring. Where bands
    overlap, membership is the largest and the gain is the membership-weighted mean. Returns
    True when every in-band gain is the same (the engine then needs one inverse FFT fewer).
    """
    edge = 2.0 ** (1.0 / 24.0)
    uniform = True
    first = -1.0
    for k in range(freqs.shape[0]):
        f = freqs[k]
        wsum = 0.0
        gsum = 0.0
        wmax = 0.0
        for b in range(count):
            lo = lows[b]
            hi = highs[b]
            w = _edge_weight(f, lo, edge) * (1.0 - _edge_weight(f, hi, edge))
            if w > 0.0:
                wsum += w
                gsum += w * gains[b]
                if w > wmax:
                    wmax = w
        band_w[k] = wmax
        g = gsum / wsum if wsum > 0.0 else 1.0
        band_g[k] = g
        if wmax > 0.0:
            if first < 0.0:
                first = g
            elif g != first:
                uniform = False
    return uniform


@njit(cache=True, inline="always")
def _edge_weight(f, edge_hz, ratio):
    # 0 well below edge_hz, 1 well above, a raised-cosine step over [edge/ratio, edge*ratio].
    if edge_hz <= 0.0:
        return 1.0
    a = edge_hz / ratio
    b = edge_hz * ratio
    if f <= a:
        return 0.0
    if f >= b:
        return 1.0
    x = math.log(f / a) / math.log(b / a)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def bin_frequencies(fft_size: int, sample_rate: float) -> np.ndarray:
    return np.arange(fft_size // 2 + 1) * (sample_rate / fft_size)
