"""Streaming bounce: a file read, rendered and written block by block gives the samples of the
whole-array render (and of headroom.fit on it), in memory flat in the file's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from panslice.dsp.engine import Engine
from panslice.plugin.formats import audiofile, headroom, presets
from panslice.plugin.formats.audiostream import StereoReader
from panslice.plugin.offline import bounce
from panslice.plugin.offline.bounce_writer import CHUNK

SR = 44100.0


def _song(n: int, level: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    voice = np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    side = rng.standard_normal((2, n)) * 0.3
    return (level * (np.stack([voice, voice]) + side) / 1.6).astype(np.float32)


def _job(inp: Path, out: Path, preset: str, **kw) -> bounce.BounceJob:
    p = presets.load(preset)
    return bounce.BounceJob(inp, out, p, p.params, overwrite=True, **kw)


@pytest.mark.parametrize("n", [CHUNK * 2 + 777, 1000, 2, CHUNK + 2])  # 2: pedalboard's (2, 2)
@pytest.mark.parametrize("stems", [False, True])
def test_float_bounce_is_the_whole_render(tmp_path, n, stems):
    x = _song(n, 0.5)
    inp = tmp_path / "in.wav"
    audiofile.write_stereo(inp, x, SR, 32)
    out = tmp_path / ("st" if stems else "o.wav")
    paths = bounce.run(_job(inp, out, "karaoke", stems=stems, bit_depth=32))
    p = presets.load("karaoke")
    want = bounce.render(x, SR, p.params, split=stems, unity=stems)
    got = [audiofile.read_input(q)[0] for q in paths]
    np.testing.assert_array_equal(np.stack(got) if stems else got[0], want)


@pytest.mark.parametrize("keep", [False, True])
def test_integer_bounce_lowers_as_the_whole_render(tmp_path, keep):
    x = _song(CHUNK * 3 + 12345, 1.4)
    inp = tmp_path / "in.wav"
    audiofile.write_stereo(inp, x, SR, 32)
    out = tmp_path / "o.wav"
    with pytest.warns(UserWarning, match="clipped" if keep else "lowered by"):
        bounce.run(_job(inp, out, "vocal-lift", bit_depth=24, keep_level=keep))
    whole = bounce.render(x, SR, presets.load("vocal-lift").params)
    fitted, _ = headroom.fit(whole, keep)
    ref = tmp_path / "ref.wav"
    audiofile.write_stereo(ref, fitted, SR, 24)
    assert out.read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("n", [1, 31, CHUNK, CHUNK + 5, 3 * CHUNK + 40])
def test_true_peak_in_pieces_is_the_whole_one(n):
    a = np.random.default_rng(n).standard_normal((4, n)).astype(np.float32)
    tp = headroom.TruePeak()
    for s in range(0, n, CHUNK):
        tp.add(a[:, s:s + CHUNK])
    assert max(tp.value(), float(np.abs(a).max())) == headroom.true_peak(a)


def test_reader_gives_the_file_in_pieces_with_read_input_rules(tmp_path):
    x = _song(5000, 0.5)
    x[0, 10] = np.nan
    p = tmp_path / "a.wav"
    audiofile.write_stereo(p, x, SR, 32)
    with pytest.warns(UserWarning, match="1 NaN/Inf"):
        with StereoReader(p) as r:
            assert r.frames == 5000
            got = np.concatenate([r.read(1234) for _ in range(5)], axis=1)
    with pytest.warns(UserWarning):
        want = audiofile.read_input(p)[0]
    np.testing.assert_array_equal(got, want)
    with pytest.raises(audiofile.AudioFileError, match="--channels"):
        StereoReader(p, [1, 3])


def test_ml_feed_from_a_source_matches_the_array():
    from panslice.dsp import spleeter as S
    from panslice.plugin.formats.audiostream import ArraySource
    from panslice.plugin.ml import prior

    class Net:
        def vocal_mask(self, mag, run):
            return np.clip(mag / (mag.max() + 1e-9), 0, 1).astype(np.float32)

    x = _song(3 * 64 * S.HOP + 999, 0.5)
    eng = Engine(presets.load("acapella").params).prepare(SR, 512)
    whole = list(prior.PriorFeed(eng, x, SR, net=Net(), patch=64)._chunks)

    class Pieces(ArraySource):
        def read(self, m):
            return super().read(min(m, 700))

    piece = list(prior.PriorFeed(eng, Pieces(x, SR), SR, net=Net(), patch=64)._chunks)
    assert len(whole) == len(piece)
    for (f0, r0), (f1, r1) in zip(whole, piece):
        assert f0 == f1
        np.testing.assert_array_equal(r0, r1)


def test_analyze_reads_at_most_its_cap_and_says_so(tmp_path, monkeypatch):
    from panslice.plugin.offline import analyze

    p = tmp_path / "long.wav"
    audiofile.write_stereo(p, _song(10000, 0.5), SR, 32)
    monkeypatch.setattr(analyze, "MAX_MINUTES", 0.001)
    audio, sr, note, _ = analyze.read_capped(p)
    assert audio.shape == (2, int(0.001 * 60 * SR)) and "first 0.001 minutes" in note
    monkeypatch.setattr(analyze, "MAX_MINUTES", 20)
    audio, sr, note, _ = analyze.read_capped(p)
    assert audio.shape == (2, 10000) and note is None
