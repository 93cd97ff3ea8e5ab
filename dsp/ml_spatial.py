"""Reshaping the ML prior with what the recording itself says about where things sit.

Spleeter hears timbre, not space: on a mix where the voice sits dry in the centre and the band
is panned around it, it can still call a third of the voice "accompaniment", and be sure of
it. Two knobs act on its vocal mask before it reaches the slice:

- ``ml_contrast`` (tau) scales the model's log-odds: 1 is the mask as shipped; below 1 its
  confident mistakes soften, so that other evidence can overrule them.
- ``ml_spatial`` (c) lets the azimuth speak. Per frequency band, an energy-weighted azimuth
  histogram is kept of what the mask calls voice and of what it calls band, accumulated over
  the audio so far; each bin's log-likelihood ratio under the two histograms is added to the
  model's log-odds, weighted by ``c * (1 - Bhattacharyya coefficient)`` of the pair (at most
  3). A mix whose voice and band share the centre is left nearly alone; one where they sit
  apart gets the azimuth's full say. Two passes refine the histograms with the reshaped mask.

Per patch (seconds of audio), vectorised numpy: nothing here runs per block.
"""

from __future__ import annotations

import numpy as np

EDGES_HZ = np.array([0.0, 150.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0, 9600.0])
AZ_BINS = 33          # azimuth -1 .. 1 in steps of 1/16
FLOOR = 1e-2          # added to each normalised histogram: a bin never seen is not impossible
MAX_WEIGHT = 3.0
PASSES = 2
_LOGIT_LIMIT = 14.0   # |log-odds| of a mask value of about 1e-6


class SpatialPrior:
    """Histograms of where voice and band sit, kept across the patches of one stream (a new
    stream, or a reset one, takes a new instance)."""

    def __init__(self, n_bins: int, bin_hz: float):
        band = np.searchsorted(EDGES_HZ, np.arange(n_bins) * bin_hz, side="right") - 1
        self._offset = (band * AZ_BINS)[None, :]            # (1, K) into the flat histograms
        self._size = len(EDGES_HZ) * AZ_BINS
        self.voice = np.zeros(self._size)
        self.band = np.zeros(self._size)

    def reshape(self, mask: np.ndarray, mag: np.ndarray, contrast: float = 1.0,
                spatial: float = 0.0) -> np.ndarray:
        """The reshaped vocal mask [shape=(T, K, C)] of one patch: ``mask`` is the model's
        (0..1) and ``mag`` the mix's magnitudes [shape=(T, K, 2): left, right]. At contrast
        1 and spatial 0 it is ``mask`` unchanged (the histograms still learn)."""
        left, right = mag[..., 0].astype(np.float64), mag[..., 1].astype(np.float64)
        energy = (left * left + right * right).ravel()
        azimuth = np.arctan2(right, left) * (4 / np.pi) - 1
        index = (np.rint((azimuth + 1) * ((AZ_BINS - 1) / 2)).astype(np.int64) + self._offset).ravel()
        if spatial > 0.0 or contrast != 1.0:
            odds = contrast * np.clip(np.log(mask / np.maximum(1 - mask, 1e-30) + 1e-30),
                                      -_LOGIT_LIMIT, _LOGIT_LIMIT)
            shaped = 1 / (1 + np.exp(-odds))
            if spatial > 0.0:
                weight, m = None, mask
                for _ in range(PASSES):
                    pv, pb = self._histograms(index, energy, m.mean(axis=-1, dtype=np.float64).ravel())
                    if weight is None:   # how far apart voice and band sit, by the model's own mask
                        seen = (pv.sum(axis=1) > 0) & (pb.sum(axis=1) > 0)
                        weight = np.where(seen, np.minimum(
                            spatial * (1 - np.sqrt(pv * pb).sum(axis=1)), MAX_WEIGHT), 0.0)
                    ratio = (weight[:, None] * np.log((pv + FLOOR) / (pb + FLOOR))).ravel()[index]
                    m = shaped = 1 / (1 + np.exp(-(odds + ratio.reshape(azimuth.shape)[..., None])))
            mask = shaped.astype(np.float32)
        voice = np.bincount(index, energy * mask.mean(axis=-1, dtype=np.float64).ravel(), self._size)
        self.voice += voice
        self.band += np.bincount(index, energy, self._size) - voice
        return mask

    def _histograms(self, index: np.ndarray, energy: np.ndarray, m: np.ndarray):
        """Normalised azimuth histograms per band [shape=(bands, AZ_BINS)] of voice (weight m)
        and band (1 - m), this patch's added to what earlier patches taught."""
        v = np.bincount(index, energy * m, self._size) + self.voice
        b = np.bincount(index, energy * (1 - m), self._size) + self.band
        v, b = v.reshape(-1, AZ_BINS), b.reshape(-1, AZ_BINS)
        return (v / np.maximum(v.sum(axis=1, keepdims=True), 1e-30),
                b / np.maximum(b.sum(axis=1, keepdims=True), 1e-30))
