"""Hand edits: the file format's checks, and the engine applying regions only where they are."""

import json

import numpy as np
import pytest

from benchmarks import scoring
from conftest import REAL_TRACKS, needs_real, noise, run_cli, split_in_random_blocks
from panslice.dsp import Engine, panogram
from panslice.dsp.errors import ParameterError
from panslice.plugin.formats import edits, presets
from panslice.plugin.offline.bounce import render

SR = 44100

GOOD = """
[[regions]]
name = "kick out of the vocal"
start = "0:12"
end = "0:48.5"
high_hz = 150
azimuth = [-0.3, 0.3]
target_gain_db = -inf

[[regions]]
start = 62
end = 70
azimuth = [-0.8, -0.4]
rest_gain_db = "6"
fade = 0.1
"""


def test_a_good_file_parses_in_toml_and_json(tmp_path):
    regions = edits.parse(GOOD, "e.toml")
    assert regions[0] == edits.Region(12.0, 48.5, 0.0, 150.0, -0.3, 0.3, float("-inf"), 0.0,
                                      edits.DEFAULT_FADE_S, "kick out of the vocal")
    assert regions[1].rest_gain_db == 6.0 and regions[1].fade == 0.1
    j = tmp_path / "e.json"
    j.write_text(json.dumps({"regions": [{"start": 1, "end": "0:02", "low_hz": 200, "high_hz": 900,
                                          "target_gain_db": "-inf"}]}))
    (r,) = edits.load(j)
    assert (r.start, r.end, r.low_hz, r.high_hz, r.target_gain_db) == (1, 2, 200, 900, float("-inf"))
    assert edits.rows(regions).shape == (2, 10)


@pytest.mark.parametrize("body,needle", [
    ("[[regions]]\nstart = 3\nend = 2\ntarget_gain_db = -6", "region 1: start (3 s) must be before end"),
    ("[[regions]]\nstart = 0\nend = 2\nhigh_hz = 100\nlow_hz = 200\ntarget_gain_db = -6",
     "region 1: frequency range 200..100 Hz"),
    ("[[regions]]\nstart = 0\nend = 2\nazimuth = [0.5, 1.5]\nrest_gain_db = -6", "azimuth range [0.5, 1.5]"),
    ("[[regions]]\nstart = 0\nend = 2\ntarget_gain_db = 40", "target_gain_db=40 is out of range"),
    ("[[regions]]\nstart = 0\nend = 2\ntarget_gain = -6", "unknown key 'target_gain' (did you mean 'target_gain_db'?)"),
    ("[[regions]]\nstart = 0\nend = 2", "changes nothing"),
    ("[[regions]]\nstart = 0\nend = 2\nmove_to = 'vocal'", "move_to='vocal' must be \"target\" or \"rest\""),
    ("[[regions]]\nstart = 'soon'\nend = 2\ntarget_gain_db = -6", "start='soon' is not a time"),
    ("[[regions]]\nend = 2\ntarget_gain_db = -6", "missing 'start'"),
    ("[[regions]]\nstart = '1:75'\nend = '2:00'\ntarget_gain_db = -6", "must be below 60"),
    ("[[regions]]\nstart = 0\nend = 2\nfade = -1\ntarget_gain_db = -6", "fade=-1 s is out of range"),
    ("regions = 3", "needs a list of regions"),
    ("format = 1", "needs a list of regions"),
    ("[[regions]\nstart = 0", "not valid TOML"),
    ("[[regions]]\nstart = 0\nend = 1\ntarget_gain_db = -6\n[[regions]]\nname = 'b'\nstart = 0\nend = 1\n"
     "rest_gain_db = nan", "region 2 ('b'): rest_gain_db: NaN"),
])
def test_bad_files_name_the_file_and_region(tmp_path, body, needle):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(edits.EditsError) as e:
        edits.load(f)
    msg = str(e.value)
    assert msg.startswith(str(f)) and needle in msg and "\n" not in msg


@pytest.mark.slow
def test_bounce_with_a_bad_edits_file_fails_cleanly(tmp_path, home):
    x = noise(SR, seed=4)
    import soundfile as sf

    sf.write(tmp_path / "in.wav", x.T, SR)
    bad = tmp_path / "e.toml"
    bad.write_text("[[regions]]\nstart = 3\nend = 2\ntarget_gain_db = -6\n")
    r = run_cli("bounce", tmp_path / "in.wav", "--edits", bad, "-o", tmp_path / "out.wav")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"panslice: error: {bad}: region 1: start (3 s) must be "
                                             "before end (2 s)"]
    assert not (tmp_path / "out.wav").exists()
    r = run_cli("bounce", tmp_path / "in.wav", "--edits", tmp_path / "nope.toml", "-o", tmp_path / "o.wav")
    assert r.returncode == 1 and "nope.toml: no such edits file" in r.stderr


def test_engine_rejects_bad_rows_and_edits_are_block_size_invariant():
    with pytest.raises(ParameterError, match="edit region 1: time range"):
        Engine().set_edits([[2.0, 1.0, 0.0, 0, 1000, -1, 1, -6, 0, 0]])
    with pytest.raises(ParameterError, match=r"shape \(E, 10\)"):
        Engine().set_edits([[0.0, 1.0]])
    x = noise(3 * SR, seed=5)
    rows = edits.rows([edits.Region(0.5, 1.7, 100, 3000, -0.5, 0.5, -12.0, 3.0, 0.05),
                       edits.Region(1.0, 2.2, 0, 500, -1, 1, 0.0, float("-inf"), 0.0)])
    whole = Engine({"width": 0.3}).prepare(SR, 8192)
    whole.set_edits(rows)
    ref = whole.process_split(x)
    eng = Engine({"width": 0.3}).prepare(SR, 8192)
    eng.set_edits(rows)
    assert np.abs(split_in_random_blocks(eng, x) - ref).max() <= 1e-6


def test_overlapping_regions_multiply():
    x = noise(2 * SR, seed=6)
    region = edits.Region(0.3, 1.4, 200, 5000, -0.6, 0.6, -6.0, -3.0, 0.05)
    double = edits.Region(**{**region.__dict__, "target_gain_db": -12.0, "rest_gain_db": -6.0})
    a = Engine({"width": 0.4}).prepare(SR, 8192)
    a.set_edits(edits.rows([region, region]))
    b = Engine({"width": 0.4}).prepare(SR, 8192)
    b.set_edits(edits.rows([double]))
    plain = Engine({"width": 0.4}).prepare(SR, 8192).process_split(x)
    got = a.process_split(x)
    # Where both are fully in effect (past the fades and one frame), the gains multiply exactly.
    lat = a.latency_samples
    inner = slice(int((0.3 + 0.025) * SR) + 2048 + lat, int((1.4 - 0.025) * SR) - 2048 + lat)
    assert np.abs(got - b.process_split(x))[..., inner].max() <= 1e-6
    assert np.abs(got - plain)[..., inner].max() > 0.01


def test_a_region_takes_only_the_bins_at_its_azimuth():
    # Two chords in the same band, at -0.5 and +0.5; both are outside the slice (the rest).
    from conftest import pan

    t = np.arange(2 * SR) / SR
    a = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (300, 700, 1500))
    b = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (450, 1000, 2200))
    x = (pan(a, -0.5) + pan(b, 0.5)).astype(np.float32)
    eng = Engine({"width": 0.1}).prepare(SR, 8192)
    eng.set_edits(edits.rows([edits.Region(0.0, 5.0, 0, 30000, 0.3, 0.7, 0.0, float("-inf"), 0.0)]))
    rest = eng.process_split(np.concatenate([x, np.zeros((2, 4096), np.float32)], axis=1))[1]
    rest = rest[:, eng.latency_samples:][:, 4096: 2 * SR - 4096]      # past the start-up frames
    want = pan(a, -0.5)[:, 4096: 2 * SR - 4096]
    err_db = 10 * np.log10(np.sum((rest - want) ** 2) / np.sum(want ** 2))
    print(f"rest vs the -0.5 source alone: error {err_db:.1f} dB")
    assert err_db <= -20.0


def _box_db(spec, sr, t0, t1, f0, f1):
    """Energy (dB) of a spectrum [shape=(2, frames, bins)] inside a time x frequency box."""
    t = (np.arange(spec.shape[1]) * panogram.HOP + panogram.FFT_SIZE / 2) / sr
    f = np.fft.rfftfreq(panogram.FFT_SIZE, 1 / sr)
    box = np.abs(spec[:, (t >= t0) & (t <= t1)][:, :, (f >= f0) & (f <= f1)]) ** 2
    return 10 * np.log10(box.sum() + 1e-20)


@needs_real
def test_edits_change_the_region_and_nothing_outside_it_on_a_real_track():
    track = next(t for t in REAL_TRACKS if (t / "mixture.wav").is_file())
    mix, sr = scoring.load(track / "mixture.wav")
    mix = mix[:, : int(8 * sr)]
    ps = presets.load("acapella").params
    fade = 0.05
    # A: the low end out of the accompaniment (rest) from 1.0 to 2.5 s; B: the centre of the
    # vocal (target) 12 dB down between 500 and 2000 Hz from 4.0 to 5.5 s; C: the low end
    # moved into the vocal from 6.2 to 7.5 s.
    regions = [edits.Region(1.0, 2.5, 0, 150, -1, 1, 0.0, float("-inf"), fade, "A"),
               edits.Region(4.0, 5.5, 500, 2000, -0.1, 0.1, -12.0, 0.0, fade, "B"),
               edits.Region(6.2, 7.5, 0, 150, -1, 1, 0.0, 0.0, fade, "C", "target")]
    plain = render(mix, sr, ps, split=True, unity=True)
    edited = render(mix, sr, ps, split=True, unity=True, edits=edits.rows(regions))
    reach = fade / 2 + 2048 / sr      # the fade's half plus one analysis frame
    t = np.arange(mix.shape[1]) / sr
    diff = np.abs(edited - plain).max(axis=1)            # [target|rest, sample]
    in_a = (t >= 1.0 - reach) & (t < 2.5 + reach)
    in_b = (t >= 4.0 - reach) & (t < 5.5 + reach)
    in_c = (t >= 6.2 - reach) & (t < 7.5 + reach)
    print(f"{track.name}: max change outside the regions: target {diff[0][~(in_b | in_c)].max():.1e}, "
          f"rest {diff[1][~(in_a | in_c)].max():.1e}")
    assert diff[0][~(in_b | in_c)].max() <= 1e-5      # the target changes only inside B and C
    assert diff[1][~(in_a | in_c)].max() <= 1e-5      # the rest only inside A and C
    # A move keeps target + rest == input; the gain edits A and B do not, by design.
    err = np.abs(edited.sum(axis=0) - mix).max(axis=0)
    assert err[~(in_a | in_b)].max() <= 1e-5 and err[in_a].max() > 0.01

    # Inside: the boxes lose what the edits say; the same times outside the boxes' frequencies
    # keep their level.
    rest_plain, rest_ed = panogram.stft(plain[1]), panogram.stft(edited[1])
    tgt_plain, tgt_ed = panogram.stft(plain[0]), panogram.stft(edited[0])
    drop_a = _box_db(rest_plain, sr, 1.1, 2.4, 20, 120) - _box_db(rest_ed, sr, 1.1, 2.4, 20, 120)
    drop_b = _box_db(tgt_plain, sr, 4.1, 5.4, 550, 1900) - _box_db(tgt_ed, sr, 4.1, 5.4, 550, 1900)
    keep_a = _box_db(rest_plain, sr, 1.1, 2.4, 300, 8000) - _box_db(rest_ed, sr, 1.1, 2.4, 300, 8000)
    keep_b = _box_db(tgt_plain, sr, 4.1, 5.4, 3000, 10000) - _box_db(tgt_ed, sr, 4.1, 5.4, 3000, 10000)
    mix_c = _box_db(panogram.stft(mix), sr, 6.3, 7.4, 20, 120)
    gap_c = mix_c - _box_db(tgt_ed, sr, 6.3, 7.4, 20, 120)
    rest_c = _box_db(rest_plain, sr, 6.3, 7.4, 20, 120) - _box_db(panogram.stft(edited[1]), sr, 6.3, 7.4, 20, 120)
    print(f"box A (rest, <120 Hz) down {drop_a:.1f} dB, above 300 Hz {keep_a:+.2f} dB; "
          f"box B (target, centre 550-1900 Hz) down {drop_b:.1f} dB, 3-10 kHz {keep_b:+.2f} dB; "
          f"box C (<120 Hz moved to the target): target within {gap_c:.2f} dB of the mix, "
          f"rest down {rest_c:.1f} dB")
    assert drop_a >= 30.0
    assert 0.5 <= drop_b <= 12.5          # only the bins at azimuth -0.1..0.1 take the -12 dB
    assert abs(keep_a) <= 0.2 and abs(keep_b) <= 0.2
    assert abs(gap_c) <= 0.5 and rest_c >= 30.0


@pytest.mark.slow
def test_analyze_draws_the_edit_regions(tmp_path, home):
    import soundfile as sf

    sf.write(tmp_path / "in.wav", noise(2 * SR, seed=8).T, SR)
    e = tmp_path / "e.toml"
    e.write_text("[[regions]]\nname = 'cut'\nstart = 0.5\nend = 1.5\nhigh_hz = 300\n"
                 "target_gain_db = -inf\n")
    png = tmp_path / "a.png"
    r = run_cli("analyze", tmp_path / "in.wav", "--edits", e, "-o", png, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["edits"][0]["name"] == "cut" and report["edits"][0]["high_hz"] == 300
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_region_past_the_end_of_the_input_warns(tmp_path, home):
    import soundfile as sf

    sf.write(tmp_path / "in.wav", noise(SR, seed=9).T, SR)
    e = tmp_path / "e.toml"
    e.write_text("[[regions]]\nstart = 5\nend = 6\ntarget_gain_db = -6\n")
    r = run_cli("bounce", tmp_path / "in.wav", "--edits", e, "-o", tmp_path / "out.wav")
    assert r.returncode == 0, r.stderr
    assert "edit region 1 starts at 5 s, after the end of the input (1.00 s)" in r.stderr
