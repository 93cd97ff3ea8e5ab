"""The engine's contracts: block-size invariance, exact latency, transparency, complementarity,
smooth parameter changes, and the lifecycle rules."""

import numpy as np
import pytest

from conftest import noise, pan
from panslice.dsp import Engine
from panslice.dsp.errors import ParameterError
from panslice.dsp.frames import FrameReader

SR = 44100


def stream(engine: Engine, x: np.ndarray, sizes, split=False) -> np.ndarray:
    outs, pos = [], 0
    for s in sizes:
        blk = np.ascontiguousarray(x[:, pos:pos + s])
        outs.append(engine.process_split(blk) if split else engine.process(blk))
        pos += s
    assert pos == x.shape[1]
    return np.concatenate(outs, axis=-1)


def random_partition(n: int, rng, hi=8192) -> list[int]:
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(rng.integers(1, hi + 1) if rng.random() < 0.5 else rng.integers(1, 64),
                             n - sum(sizes))))
    return sizes


@pytest.mark.parametrize("fft_size,overlap", [(2048, 4), (512, 2), (4096, 8)])
def test_output_does_not_depend_on_block_partition(fft_size, overlap):
    rng = np.random.default_rng(1)
    x = noise(40000, seed=2)
    settings = {"fft_size": fft_size, "overlap": overlap, "width": 0.3, "target_gain_db": -6,
                "rest_gain_db": 3, "bands": None}
    settings.pop("bands")
    ref = Engine(settings).prepare(SR, 8192).process_split(x)
    for trial in range(4):
        eng = Engine(settings).prepare(SR, 8192)
        got = stream(eng, x, random_partition(x.shape[1], rng), split=True)
        assert np.abs(got - ref).max() <= 1e-6
    # sizes 1 and 3 and exactly one hop too
    for size in (1, 3, fft_size // overlap):
        eng = Engine(settings).prepare(SR, 8192)
        sizes = [size] * (x.shape[1] // size) + ([x.shape[1] % size] if x.shape[1] % size else [])
        assert np.abs(stream(eng, x, sizes, split=True) - ref).max() <= 1e-6


@pytest.mark.parametrize("max_block", [8192, 64])  # batched, and spread (max_block < hop)
def test_zero_length_block_changes_nothing(max_block):
    """Empty calls (both outputs, both dtypes, one with a change pending) anywhere in a stream:
    the output, levels and frame count equal those of an engine that never got them, bit for bit."""
    x = noise(12000, seed=5)
    settings = {"width": 0.3, "target_gain_db": -6, "overlap": 4}
    plain, eng = Engine(settings).prepare(SR, max_block), Engine(settings).prepare(SR, max_block)
    empties = [np.zeros((2, 0), np.float32), np.zeros((2, 0), np.float64)]
    for pos in range(0, x.shape[1], 40):
        if pos == 4000:
            plain.set("width", 0.9)
            eng.set("width", 0.9)
        for empty in empties:
            assert eng.process(empty).shape == (2, 0) and eng.process_split(empty).shape == (2, 2, 0)
        blk = np.ascontiguousarray(x[:, pos:pos + 40])
        want, got = plain.process_split(blk), eng.process_split(blk)
        assert np.array_equal(got, want), pos
        assert eng.levels() == plain.levels() and eng.frames_processed == plain.frames_processed
        assert eng.samples_to_next_frame() == plain.samples_to_next_frame()
    assert plain.frames_processed > 10 and np.abs(want).max() > 0


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("fft_size,overlap", [(512, 4), (2048, 4), (8192, 2), (1024, 8)])
def test_null_test_at_neutral_settings_is_below_minus_100_db(sr, fft_size, overlap):
    x = noise(3 * fft_size + 1234, seed=3, dtype=np.float64)
    eng = Engine({"fft_size": fft_size, "overlap": overlap}).prepare(sr, 4096)
    out = np.empty_like(x)
    eng.process(x, out)
    lat = eng.latency_samples
    assert lat == fft_size - 1
    err = out[:, lat:] - x[:, :-lat]
    level = 10 * np.log10(np.sum(err ** 2) / np.sum(x[:, :-lat] ** 2) + 1e-300)
    assert level <= -100


def test_latency_is_exact_for_an_impulse():
    eng = Engine({"width": 2.0}).prepare(SR, 512)
    x = np.zeros((2, 8000), np.float32)
    x[:, 1000] = 1.0
    y = eng.process(x)
    assert int(np.argmax(np.abs(y[0]))) == 1000 + eng.latency_samples


def test_latency_is_exact_for_an_impulse_when_the_work_is_spread():
    eng = Engine({"width": 2.0}).prepare(SR, 128)  # blocks shorter than the 512-sample hop
    assert eng.spread and eng.latency_samples == 2047 + 512
    x = np.zeros((2, 8000), np.float32)
    x[:, 1000] = 1.0
    y = stream(eng, x, [128] * (8000 // 128) + [8000 % 128])
    assert int(np.argmax(np.abs(y[0]))) == 1000 + eng.latency_samples


@pytest.mark.parametrize("unity", [False, True])
def test_spread_work_gives_the_same_samples_one_hop_later(unity):
    # Prepared for blocks shorter than a hop, the engine shares each frame's work out over the
    # next hop's blocks and plays it a hop later; the samples must be the very same, with knob
    # changes between blocks, hand edits and ML prior rows, whatever the blocks (longer than
    # max_block too).
    from panslice.plugin.formats import edits

    x = noise(2 * SR, seed=12).astype(np.float64)
    x[:, SR // 2:] += pan(noise(3 * SR // 2, seed=13)[0], 0.1)
    rows = edits.rows([edits.Region(0.4, 1.1, 100, 3000, -0.5, 0.5, -12.0, 3.0, 0.05)])
    prior = np.random.default_rng(4).random((300, 1025)).astype(np.float32)
    settings = {"width": 0.3, "ml_prior": 0.5, "band_count": 2, "band.1.high_hz": 2000.0,
                "band.2.low_hz": 3000.0, "band.2.gain_db": -3.0, "percussion_reject": 1.0,
                "smooth_ms": 40.0}
    rng = np.random.default_rng(5)
    sizes = [int(rng.integers(1, 300)) if rng.random() < 0.9 else 1500 for _ in range(2000)]
    outs = []
    for max_block in (8192, 100):
        eng = Engine(settings, unity=unity).prepare(SR, max_block)
        eng.set_edits(rows)
        eng.set_prior(prior, 20)
        assert eng.spread == (max_block == 100)
        out = np.zeros((2, 2, x.shape[1]))
        pos = 0
        for k, s in enumerate(sizes):
            if pos >= x.shape[1]:
                break
            if k in (40, 200):
                eng.set("width", 0.6 if k == 40 else 0.2)
                eng.set("target_gain_db", -20.0 if k == 40 else 4.0)
            eng.process_split(x[:, pos:pos + s], out[:, :, pos:pos + s])
            pos += s
        outs.append((out, eng.latency_samples))
    (ref, lat), (got, lat_spread) = outs
    assert lat_spread == lat + 512
    assert np.array_equal(got[:, :, 512:], ref[:, :, :-512])
    assert not np.any(got[:, :, :512])                  # the hop it is played later


def test_a_frame_waiting_for_its_spread_work_counts_as_completed_not_processed():
    eng = Engine().prepare(SR, 128)
    eng.process(np.zeros((2, 2048), np.float32))         # frames 0 .. 3 complete, 3 waits
    assert (eng.frames_processed, eng.frames_completed) == (3, 4)
    eng.process(np.zeros((2, 128), np.float32))          # its forward FFT
    eng.process(np.zeros((2, 128), np.float32))          # its mask
    assert (eng.frames_processed, eng.frames_completed) == (4, 4)


@pytest.mark.parametrize("tg,rg", [(0.0, 0.0), (6.0, 0.0), (0.0, -np.inf)])
def test_target_plus_rest_is_the_input_with_the_gains_applied(tg, rg):
    mono = noise(30000, seed=4)[0]
    x = (pan(mono, 0.0) + noise(30000, seed=5)).astype(np.float64)
    settings = {"target_gain_db": tg, "rest_gain_db": rg, "width": 0.2}
    unity = Engine(settings, unity=True).prepare(SR, 4096)
    out = np.empty((2, 2, x.shape[1]))
    unity.process_split(x, out)
    lat = unity.latency_samples
    assert np.abs(out.sum(axis=0)[:, lat:] - x[:, :-lat]).max() < 1e-9
    # the slice is a real split: neither output is empty or the whole input
    assert 0.05 < np.sum(out[0] ** 2) / np.sum(x ** 2) < 0.95
    if tg == 0.0 and rg == 0.0:
        gained = Engine(settings).prepare(SR, 4096)
        out2 = np.empty_like(out)
        gained.process_split(x, out2)
        assert np.abs(out2 - out).max() < 1e-12


def test_isolate_keeps_a_centre_source_and_drops_a_side_source():
    n = 44100
    t = np.arange(n) / SR
    centre = np.sin(2 * np.pi * 440 * t)
    side = np.sin(2 * np.pi * 1320 * t)
    x = pan(centre, 0.0) + pan(side, 0.9)
    eng = Engine({"rest_gain_db": -np.inf, "width": 0.2}).prepare(SR, 4096)
    y = np.empty_like(x)
    eng.process(x, y)
    lat = eng.latency_samples
    y = y[:, lat + 4096:]
    ref = pan(centre, 0.0)[:, 4096:-lat]
    assert np.sqrt(np.mean((y - ref) ** 2)) < 0.02 * np.sqrt(np.mean(ref ** 2))


def test_band_restricts_the_slice_and_band_gain_scales_it():
    n = 44100
    t = np.arange(n) / SR
    low, high = np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 3000 * t)
    x = pan(low + high, 0.0)
    eng = Engine({"rest_gain_db": -np.inf}).prepare(SR, 4096)
    eng.set_params({"band.1.low_hz": 1000, "band.1.high_hz": 8000, "band.1.gain_db": -6.0})
    y = np.empty_like(x)
    eng.process(x, y)
    y = y[:, 10000:]
    spec = np.abs(np.fft.rfft(y[0]))
    f = np.fft.rfftfreq(y.shape[1], 1 / SR)
    a200 = spec[np.argmin(np.abs(f - 200))]
    a3k = spec[np.argmin(np.abs(f - 3000))]
    assert a200 < 0.01 * a3k
    expect = np.abs(np.fft.rfft(pan(high, 0)[0, 10000 - 2047: n - 2047]))[np.argmin(np.abs(f - 3000))]
    assert abs(20 * np.log10(a3k / expect) + 6.0) < 0.3


def test_gain_step_to_silence_does_not_click():
    n = 3 * SR
    t = np.arange(n) / SR
    x = pan(np.sin(2 * np.pi * 220 * t), 0.0)
    eng = Engine({"width": 0.3}).prepare(SR, 256)
    out = np.empty_like(x)
    first = SR
    eng.process(x[:, :first], out[:, :first])
    eng.set("target_gain_db", -np.inf)
    eng.process(x[:, first:], out[:, first:])
    own = np.abs(np.diff(x, axis=1)).max()
    assert np.abs(np.diff(out, axis=1)).max() <= own
    assert np.abs(out[:, -SR:]).max() < 1e-3  # and it really went silent


@pytest.mark.parametrize("unity", [False, True])
def test_non_finite_input_does_not_poison_the_state(unity):
    eng = Engine(unity=unity).prepare(SR, 1024)
    x = noise(20000, seed=6)
    x[0, 5000] = np.nan
    x[1, 6000] = np.inf
    y = eng.process(x)
    assert np.isfinite(y).all()


def test_stems_equal_the_engine_at_unity_gains_with_hand_edits_too():
    # Stems take the rest as input - target (one overlap-add less); hand-edited frames add their
    # difference back. Both must equal the engine's general path at 0 dB gains.
    from panslice.plugin.formats import edits

    x = noise(3 * SR, seed=8).astype(np.float64)
    rows = edits.rows([edits.Region(0.5, 1.2, 100, 3000, -0.5, 0.5, -12.0, 3.0, 0.05),
                       edits.Region(1.0, 2.0, 0, 500, -1, 1, 0.0, 0.0, 0.0, move_to="target")])
    for with_edits in (False, True):
        got = []
        for unity in (True, False):
            eng = Engine({"width": 0.3}, unity=unity).prepare(SR, 4096)
            if with_edits:
                eng.set_edits(rows)
            got.append(stream(eng, x, random_partition(x.shape[1], np.random.default_rng(3)),
                              split=True))
        assert np.abs(got[0] - got[1]).max() < 1e-12


def test_an_output_at_gain_zero_is_silent_and_comes_back_whole():
    # An output at -inf dB skips its overlap-add once its accumulator has played out; when the
    # gain comes back, it must be the same output as if it had never gone.
    x = (pan(noise(6 * SR, seed=10)[0], 0.1) + 0.3 * noise(6 * SR, seed=11)).astype(np.float64)
    block = SR // 10
    outs = {}
    for name, unity in (("switched", False), ("plain", False), ("stems", True)):
        eng = Engine({"width": 0.3}, unity=unity).prepare(SR, block)
        out = np.empty((2, 2, x.shape[1]))
        for k in range(60):
            if name == "switched" and k in (10, 30):
                eng.set("target_gain_db", float("-inf") if k == 10 else 0.0)
            eng.process_split(x[:, k * block:(k + 1) * block], out[:, :, k * block:(k + 1) * block])
        outs[name] = out
    # A frame finished at input sample T is heard at output samples T - 1 .. T + 2046.
    assert np.array_equal(outs["switched"][1], outs["plain"][1])  # the rest does not change
    silent = slice(2 * SR, 3 * SR)               # glided to 0 (about 0.4 s) and a frame later
    assert not np.any(outs["switched"][0][:, silent])
    back = slice(int(3.6 * SR) + 2048, None)     # glided back to exactly 0 dB, a frame later
    assert np.array_equal(outs["switched"][0][:, back], outs["stems"][0][:, back])
    assert np.any(outs["stems"][0][:, back])


def test_levels_are_the_rms_of_the_two_outputs_of_the_last_block():
    eng = Engine({"width": 0.3, "rest_gain_db": -6.0}).prepare(SR, 4096)
    assert eng.levels() == (0.0, 0.0)
    x = noise(3 * 4096, seed=9)
    for k in range(3):
        out = eng.process_split(np.ascontiguousarray(x[:, k * 4096:(k + 1) * 4096]))
        want = np.sqrt(np.mean(out.astype(np.float64) ** 2, axis=(1, 2)))
        assert np.allclose(eng.levels(), want, rtol=1e-5, atol=1e-9)
    eng.process(np.zeros((2, 0), np.float32))
    assert eng.levels() == (0.0, 0.0)


def test_reset_restores_the_prepared_state():
    x = noise(10000, seed=7)
    eng = Engine({"width": 0.4}).prepare(SR, 1024)
    a = eng.process(x)
    eng.reset()
    b = eng.process(x)
    assert np.array_equal(a, b)


def test_lifecycle_errors_are_clear():
    with pytest.raises(ParameterError, match="not prepared"):
        Engine().process(np.zeros((2, 4), np.float32))
    with pytest.raises(ParameterError, match="sample rate 7999 Hz is not supported"):
        Engine().prepare(7999, 512)
    eng = Engine().prepare(SR, 512)
    with pytest.raises(ParameterError, match=r"shape \(2, n\)"):
        eng.process(np.zeros((1, 4), np.float32))
    with pytest.raises(ParameterError, match="fft_size cannot change while running"):
        eng.set("fft_size", 1024)
    with pytest.raises(ParameterError, match="width=3 is out of range"):
        eng.set("width", 3)


@pytest.mark.parametrize("max_block", [256, 4096])  # the work spread over a hop, and batched
def test_published_frames_are_the_engines_spectra_and_change_no_sample(max_block):
    """Opted in, each analysed frame's power and azimuth per bin lands in the ring: those of
    the frame's sqrt-Hann spectrum, as the mask sees it. The audio is the same to the bit; the
    count survives ``reset`` (the reader counts on it), and opted out nothing is published."""
    n = 5 * 4096
    x = noise(n, seed=3) + pan(0.3 * np.sin(2 * np.pi * 700 * np.arange(n) / SR), -0.4)
    plain = stream(Engine().prepare(SR, max_block), x, [max_block] * (n // max_block))
    eng = Engine().prepare(SR, max_block)
    assert eng.published is None
    eng.publish_frames(8)
    ring, count = eng.published
    assert ring.shape == (8, 2, eng.fft_size // 2 + 1)
    got = stream(eng, x, [max_block] * (n // max_block))
    np.testing.assert_array_equal(got, plain)
    assert count[0] == eng.frames_processed
    size, hop = eng.fft_size, eng.hop
    f = int(count[0]) - 1  # the newest frame covers input [(f+1)*hop - size, (f+1)*hop)
    window = np.sqrt(np.hanning(size + 1)[:size])
    spec = np.fft.rfft(x[:, (f + 1) * hop - size:(f + 1) * hop] * window, axis=1)
    ml2, mr2 = np.abs(spec[0]) ** 2, np.abs(spec[1]) ** 2
    np.testing.assert_allclose(ring[f % 8, 0], ml2 + mr2, rtol=1e-9, atol=1e-9 * (ml2 + mr2).max())
    loud = ml2 + mr2 > 1e-6 * (ml2 + mr2).max()
    az = np.arctan2(np.sqrt(mr2), np.sqrt(ml2)) * 4 / np.pi - 1
    assert np.abs(ring[f % 8, 1] - az)[loud].max() < 1e-4
    eng.reset()
    assert count[0] == f + 1
    eng.publish_frames(0)
    assert eng.published is None


class _Racing:
    """A ring whose writer publishes ``ahead`` more frames while the reader copies from it."""

    def __init__(self, slots: int, count: np.ndarray):
        self.data = np.arange(slots, dtype=np.float64)[:, None, None] * np.ones((1, 2, 3))
        self.shape, self.count, self.ahead = self.data.shape, count, 0

    def __getitem__(self, i):
        self.count[0] += self.ahead
        self.ahead = 0
        return self.data[i]


def test_frame_reader_copies_unseen_frames_and_drops_those_the_writer_reached():
    class Publisher:
        published = None

    pub = Publisher()
    reader = FrameReader(pub)
    out = np.zeros((4, 2, 3))
    assert reader.read(out) == 0  # not publishing
    count = np.array([6])
    ring = _Racing(8, count)
    pub.published = (ring, count)
    assert reader.read(out) == 4 and out[:4, 0, 0].tolist() == [2, 3, 4, 5]  # the newest 4
    assert reader.lost == 2 and reader.seen == 6
    assert reader.read(out) == 0  # nothing new
    count[0], ring.ahead = 9, 5
    # frames 6, 7, 8 are copied while the writer goes on to frame 14, which goes into frame
    # 6's slot: frame 6 may be torn and is dropped; 7 and 8 (slots 7 and 0) are whole
    assert reader.read(out) == 2 and out[:2, 0, 0].tolist() == [7, 0]
    assert reader.lost == 3 and reader.seen == 9
    pub.published = (_Racing(8, np.array([2])), np.array([2]))  # prepared again: a new ring
    assert reader.read(out) == 2 and reader.seen == 2
