"""The chain: block-by-block == whole, latency compensation, split routing, chain files."""

import numpy as np
import pedalboard as pb
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli
from panslice.dsp import params as P
from panslice.dsp.engine import Engine
from panslice.plugin.formats import presets
from panslice.plugin.offline.bounce import render
from panslice.plugin.graph.chain import Chain, ChainError, _PluginNode
from panslice.plugin.graph.chainfile import ChainFileError, load
from panslice.plugin.graph.stage import Stage

SR = 44100


@pytest.fixture(scope="module")
def mix():
    """3 s: a centre 'voice' (two sines) over noise panned left: something for every plugin."""
    t = np.arange(3 * SR) / SR
    voice = 0.3 * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 660 * t))
    return (pan(voice, 0.0) + pan(noise(3 * SR, seed=3)[0], -0.6)).astype(np.float32)


def stream(chain, x, sizes, seed=0):
    """Feed ``x`` through ``chain`` (prepared) in blocks drawn from ``sizes``; concatenate."""
    rng = np.random.default_rng(seed)
    out, pos = [], 0
    while pos < x.shape[1]:
        n = min(int(rng.choice(sizes)), x.shape[1] - pos)
        o = np.zeros((2, n), np.float32)
        chain.process_block(x[:, pos:pos + n], o)
        out.append(o)
        pos += n
    return np.concatenate(out, axis=1)


def karaoke():
    return presets.load("karaoke").params


def test_stream_block_by_block_equals_whole(mix):
    chain = Chain([pb.HighpassFilter(cutoff_frequency_hz=80), Stage(karaoke()),
                   pb.Compressor(threshold_db=-20, ratio=4), pb.Reverb(room_size=0.3),
                   pb.Pedalboard([pb.Chorus(), pb.Gain(gain_db=-3)])])
    whole = chain.process(mix, SR)
    assert whole.shape == mix.shape and whole.dtype == np.float32
    assert np.abs(whole).max() > 0.05
    lat = chain.latency_samples
    assert lat == 2047  # the built-ins have none; the stage is one frame less one sample
    chain.prepare(SR, 1024)
    for sizes in ([1024], [1, 2, 3, 5, 64, 257, 1024]):  # 1 and 2 are the shapes pedalboard misreads
        chain.reset()
        s = stream(chain, mix, sizes)
        assert np.array_equal(s[:, lat:], whole[:, :-lat]), sizes
    # pedalboard's own call style streams too: reset=False returns n samples, lat late
    chain.reset()
    parts = [chain.process(mix[:, i:i + 5000], SR, reset=False) for i in range(0, mix.shape[1], 5000)]
    assert np.array_equal(np.concatenate(parts, axis=1)[:, lat:], whole[:, :-lat])


def test_chain_of_one_stage_equals_the_offline_bounce(mix):
    assert np.array_equal(Chain([Stage(karaoke())]).process(mix, SR), render(mix, SR, karaoke()))


def test_latency_is_reported_and_compensated(mix):
    """Resample holds samples back when streamed (pedalboard returns fewer than it is given):
    the chain measures that, reports it, and a whole-buffer call removes it."""
    ref = pb.Resample(target_sample_rate=22050).process(mix, SR)  # pedalboard's own alignment
    chain = Chain([pb.Resample(target_sample_rate=22050)])
    assert np.array_equal(chain.process(mix, SR), ref)
    plugin_lat = chain.latency_samples
    assert plugin_lat > 0
    transparent = Stage({"fft_size": 1024})  # neutral gains: a null below -100 dB
    chain = Chain([pb.Resample(target_sample_rate=22050), transparent])
    out = chain.process(mix, SR)
    assert chain.latency_samples == plugin_lat + 1023
    assert np.abs(out - ref).max() < 1e-4
    chain.prepare(SR, 512)
    s = stream(chain, mix, [1, 7, 512, 300])
    lat = chain.latency_samples
    assert np.array_equal(s[:, lat:], out[:, :-lat])
    assert chain.dropouts == 0


def split_by_hand(params, x, target_steps, rest_steps):
    """The engine's two outputs as one stream (its pre-roll included: a reverb hears that too),
    each through its own chain, summed, then the engine's latency removed."""
    eng = Engine(params).prepare(SR, 8192)
    lat = eng.latency_samples
    parts = eng.process_split(np.concatenate([x, np.zeros((2, lat + 8192), np.float32)], axis=1))
    t = Chain(target_steps).process(parts[0], SR) if target_steps else parts[0]
    r = Chain(rest_steps).process(parts[1], SR) if rest_steps else parts[1]
    return (t + r)[:, lat:lat + x.shape[1]]


class HoldingBack:
    """Behaves like a pedalboard plugin with latency streamed with reset=False: it returns its
    input, aligned, minus the last ``hold`` samples, which come later. ``hold`` grows from 100
    to 300 once more than ``grow_at`` samples went in, then shrinks back."""

    def __init__(self, grow_at):
        self.grow_at = grow_at
        self.reset()

    def reset(self):
        self.buf = np.zeros((2, 0), np.float32)
        self.fed = 0

    def process(self, x, sample_rate, reset=True):
        self.buf = np.concatenate([self.buf, x], axis=1)
        self.fed += x.shape[1]
        hold = 300 if self.grow_at < self.fed < self.grow_at + 2000 else 100
        k = max(self.buf.shape[1] - hold, 0)
        out, self.buf = self.buf[:, :k], self.buf[:, k:]
        return out


def test_a_plugin_holding_back_more_than_probed_drops_out_but_stays_aligned(mix):
    node = _PluginNode(HoldingBack(grow_at=10 ** 9)).prepare(SR, 256)
    assert node.latency_samples == 100  # what the probe saw
    node.plugin.grow_at = 20000
    node.reset()
    out = np.zeros_like(mix)
    for pos in range(0, mix.shape[1], 256):
        node.process_block(mix[:, pos:pos + 256], out[:, pos:pos + 256])
    lat = node.latency_samples
    gap = np.all(out[:, lat:] == 0, axis=0)
    # short blocks while it held back 300 (2000 samples of input): silence, counted ...
    assert 0 < node.dropouts == gap.sum() < 2000 + 256
    # ... and everything else exactly where it belongs: the latency never changed
    ok = ~gap
    assert np.array_equal(out[:, lat:][:, ok], mix[:, :-lat][:, ok])


def test_split_routing_runs_each_output_through_its_own_chain(mix):
    params = karaoke().copy()
    params.update({"target_gain_db": -3.0, "rest_gain_db": 0.0})
    stage = Stage(params, target=Chain([pb.Reverb(room_size=0.6, wet_level=0.5)]),
                  rest=Chain([pb.Compressor(threshold_db=-25, ratio=6)]))
    chain = Chain([stage])
    out = chain.process(mix, SR)
    expect = split_by_hand(params, mix, [pb.Reverb(room_size=0.6, wet_level=0.5)],
                           [pb.Compressor(threshold_db=-25, ratio=6)])
    assert np.abs(out - expect).max() < 1e-5
    assert np.abs(out - render(mix, SR, params)).max() > 0.01  # the sub-chains did something
    assert chain.stages == [stage]


def test_split_branches_with_different_latency_stay_aligned(mix):
    """Only the slice goes through a plugin with latency: the rest is delayed to match."""
    params = P.ParamSet({"fft_size": 1024})
    chain = Chain([Stage(params, target=Chain([pb.Resample(target_sample_rate=22050)]))])
    out = chain.process(mix, SR)
    lat_r = Chain([pb.Resample(target_sample_rate=22050)]).prepare(SR, 8192).latency_samples
    assert chain.latency_samples == 1023 + lat_r
    expect = split_by_hand(params, mix, [pb.Resample(target_sample_rate=22050)], [])
    assert np.abs(out - expect).max() < 1e-5
    # the slice (the centre sines) has nothing above 11 kHz to lose: if both branches are
    # aligned, the sum is the input again
    assert np.abs(out - mix).max() < 1e-4
    chain.prepare(SR, 256)
    s = stream(chain, mix, [256, 3, 100])
    lat = chain.latency_samples
    assert np.array_equal(s[:, lat:], out[:, :-lat])


def test_levels_meter_the_two_outputs():
    t = np.arange(4096) / SR
    centre = pan(0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    stage = Stage(karaoke()).prepare(SR, 4096)
    out = np.zeros((2, 4096), np.float32)
    stage.process_block(centre, out)
    stage.process_block(centre, out)  # past the latency: the sine is in the output now
    target, rest = stage.levels()
    assert target < 1e-3 < rest  # karaoke: the slice is removed (-inf dB); the rest is the input's side
    stage = Stage({"rest_gain_db": float("-inf")}).prepare(SR, 4096)
    stage.process_block(centre, out)
    stage.process_block(centre, out)
    target, rest = stage.levels()
    assert target > 0.2 and rest < 0.05


def test_set_reaches_every_stage_and_bad_steps_are_refused():
    a, b = Stage(), Stage()
    chain = Chain([a, pb.Gain(), Chain([b])])
    chain.set("width", 0.4)
    assert a.params["width"] == b.params["width"] == 0.4
    with pytest.raises(ChainError, match="no panslice stage"):
        Chain([pb.Gain()]).set("width", 0.4)
    with pytest.raises(ChainError, match="step 2 is a str"):
        Chain([a, "Reverb"]).prepare(SR, 512)
    with pytest.raises(ChainError, match=r"shape \(2, n\)"):
        Chain([a]).process(np.zeros((3, 100), np.float32), SR)


REVIVAL = """
format = 1
description = "revival"

[[step]]
plugin = "HighpassFilter"
cutoff_frequency_hz = 30

[[step]]
plugin = "panslice"
preset = "vocal-lift"
set = { width = 0.3 }

  [[step.target]]
  plugin = "Reverb"
  room_size = 0.4
  wet_level = 0.25

  [[step.rest]]
  plugin = "Compressor"
  threshold_db = -18
  ratio = 2.5

[[step]]
plugin = "Limiter"
threshold_db = -1.0
"""


def test_chain_file_builds_the_chain_it_describes(tmp_path):
    f = tmp_path / "revival.toml"
    f.write_text(REVIVAL)
    chain = load(f, preset="karaoke", overrides={"rest_gain_db": "-2"})
    hp, stage, lim = chain.steps
    assert isinstance(hp, pb.HighpassFilter) and hp.cutoff_frequency_hz == 30
    assert isinstance(lim, pb.Limiter) and lim.threshold_db == -1.0
    assert stage.params["width"] == 0.3                # the file's set
    assert stage.params["target_gain_db"] == 6.0       # its preset (vocal-lift)
    assert stage.params["rest_gain_db"] == -2.0        # the command line's --set wins
    assert stage.target.steps[0].room_size == pytest.approx(0.4)
    assert stage.rest.steps[0].ratio == 2.5
    # without a preset in the file, the command line's preset is used
    f.write_text('[[step]]\nplugin = "panslice"\n')
    assert load(f, preset="karaoke").stages[0].params["target_gain_db"] == float("-inf")


BAD = [
    ('[[step]]\nplugin = "Reverbb"\n', r"step 1: unknown plugin 'Reverbb' \(did you mean Reverb\?\)"),
    ('[[step]]\nplugin = "panslice"\n[[step]]\nplugin = "Reverb"\nroomsize = 0.3\n',
     r"step 2 \(Reverb\): unknown parameter 'roomsize' \(valid: damping, dry_level"),
    ('[[step]]\nplugin = "panslice"\n[[step.target]]\nplugin = "Reverb"\nroom_size = 3\n',
     r"step 1 > target 1 \(Reverb\): room_size=3: Room Size value must be between"),
    ('[[step]]\nplugin = "panslice"\n[[step.rest]]\nplugin = "Reverb"\nroom_size = "big"\n',
     r"step 1 > rest 1 \(Reverb\): room_size='big': wrong type \(expects float\)"),
    ('[[step]]\nplugin = "Reverb"\n', r"no panslice step"),
    ('[[step]\n', r"not valid TOML"),
    ('[[step]]\nplugin = "panslice"\nset = { width = 5 }\n', r"step 1 \(panslice\): width=5 is out of range"),
    ('[[step]]\nplugin = "panslice"\npreset = "nope"\n', r"unknown preset 'nope'"),
    ('[[step]]\nplugin = "panslice"\n[[step]]\nvst3 = "x/Foo.vst3"\n',
     r"step 2 \(Foo.vst3\): no such VST3 plugin"),
    ('[[step]]\nplugin = "panslice"\nwidth = 0.3\n', r"unknown keys \['width'\] for a panslice step"),
    ('[[step]]\nplugin = "panslice"\ntarget = 3\n',
     r"step 1 > target: expected one or more \[\[step.target\]\]"),
    ('steps = 1\n', r"unknown keys \['steps'\]"),
    ('format = 2\n[[step]]\nplugin = "panslice"\n', r"format 2 is not supported"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_chain_files_name_the_file_and_the_step(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ChainFileError, match=message) as e:
        load(f, preset="karaoke")
    assert str(e.value).startswith(f"{f}: ") and "\n" not in str(e.value)


def write(path, audio):
    sf.write(str(path), audio.T, SR, subtype="FLOAT")
    return path


@pytest.mark.slow
def test_bounce_with_chain_file(tmp_path, mix):
    song = write(tmp_path / "song.wav", mix)
    f = tmp_path / "revival.toml"
    f.write_text(REVIVAL)
    r = run_cli("bounce", song, "--chain", f, "--set", "rest_gain_db=-2", "--bit-depth", "32", "-q")
    assert r.returncode == 0, r.stderr
    out, sr = sf.read(str(tmp_path / "song-revival.wav"), dtype="float32")
    expect = load(f, preset="karaoke", overrides={"rest_gain_db": "-2"}).process(mix, SR)
    assert sr == SR and np.array_equal(out.T, expect)
    # bad chain file / bad combination: one line, exit 1, nothing written
    (tmp_path / "bad.toml").write_text('[[step]]\nplugin = "Reverbb"\n')
    for args in (["--chain", tmp_path / "bad.toml"], ["--chain", f, "--stems"],
                 ["--chain", tmp_path / "missing.toml"]):
        r = run_cli("bounce", song, "-o", tmp_path / "x.wav", *args)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "error" in r.stderr, r.stderr
        assert not (tmp_path / "x.wav").exists()
