"""A preset's fft_size is what it means at 44.1 kHz: scaled to the rate, unless the user names it."""

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, run_cli
from panslice.dsp import params as P
from panslice.plugin.formats import presets
from panslice.plugin.graph import chainfile
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage

# the rate -> (the size for a preset's 2048, for its 1024)
MAPPING = {8000: (512, 512), 16000: (1024, 512), 22050: (1024, 512), 44100: (2048, 1024),
           48000: (2048, 1024), 96000: (4096, 2048), 192000: (8192, 4096)}


@pytest.mark.parametrize("rate", sorted(MAPPING))
def test_a_presets_size_scales_with_the_rate_to_the_nearest_power_of_two(rate):
    assert (presets.fft_size_at(2048, rate), presets.fft_size_at(1024, rate)) == MAPPING[rate]


def test_the_ends_of_the_range_clamp_and_every_shipped_preset_is_unchanged_at_44_1_and_48_khz():
    assert presets.fft_size_at(512, 8000) == 512 and presets.fft_size_at(8192, 192000) == 8192
    for name in presets.shipped_names():
        n = presets.load(name).params["fft_size"]
        assert presets.fft_size_at(n, 44100) == presets.fft_size_at(n, 48000) == n
        assert presets.fft_note(n, 44100) == presets.fft_note(n, 48000) == ""


@pytest.mark.parametrize("rate", sorted(MAPPING))
def test_a_size_used_at_a_rate_saves_as_a_preset_size_that_gives_it_back(rate):
    for used in P.get("fft_size").choices:
        saved, note = presets.for_saving(P.ParamSet({"fft_size": used}), rate)
        assert (presets.fft_size_at(saved["fft_size"], rate) == used) == (not note)


def test_a_stage_from_a_preset_scales_and_a_named_size_stays():
    ps = presets.load("karaoke").params
    assert Stage(ps, preset_fft=2048).prepare(16000, 512).engine.fft_size == 1024
    assert Stage(ps).prepare(16000, 512).engine.fft_size == 2048


def test_a_chain_step_scales_its_presets_size_unless_it_or_set_names_it(tmp_path):
    text = '[[step]]\nplugin = "panslice"\n\n[[step]]\nplugin = "panslice"\nset = { fft_size = 2048 }\n'
    path = tmp_path / "c.toml"
    chain = chainfile.parse(text, path, preset="karaoke", overrides={})
    assert [st.preset_fft for st in chain.stages] == [2048, None]
    Chain(chain.stages).prepare(8000, 512)
    assert [st.engine.fft_size for st in chain.stages] == [512, 2048]
    named = chainfile.parse(text, path, preset="karaoke", overrides={"fft_size": 1024})
    assert [st.preset_fft for st in named.stages] == [None, None]


def _bounce(tmp_path, name, *args):
    r = run_cli("bounce", tmp_path / "talk.wav", "--bit-depth", "32", "-o", tmp_path / name, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout, sf.read(str(tmp_path / name), dtype="float32")[0]


def test_a_16_khz_bounce_uses_and_says_the_scaled_size_and_set_overrides_it(tmp_path, home):
    sf.write(str(tmp_path / "talk.wav"), noise(2 * 16000, seed=5).T, 16000, subtype="FLOAT")
    said, scaled = _bounce(tmp_path, "a.wav", "--preset", "acapella")
    assert "fft_size 1024 at 16000 Hz (the preset's 2048 at 44.1 kHz)" in said
    _, explicit = _bounce(tmp_path, "b.wav", "--preset", "acapella", "--set", "fft_size=1024")
    said, named = _bounce(tmp_path, "c.wav", "--preset", "acapella", "--set", "fft_size=2048",
                          "--save-preset", "mine")
    assert np.array_equal(scaled, explicit) and not np.array_equal(scaled, named)
    assert "fft_size" not in said
    assert presets.load("mine").params["fft_size"] == 4096   # gives 2048 back at 16 kHz
    said, again = _bounce(tmp_path, "d.wav", "--preset", "mine")
    assert np.array_equal(again, named) and "the preset's 4096" in said


def test_a_16_khz_session_loads_a_preset_at_its_size_and_saves_one_that_gives_it_back(home):
    from panslice.plugin.control.bridge import Controls
    from panslice.plugin.control.hub import ControlHub

    st = Stage(presets.load("karaoke").params, preset_fft=2048).prepare(16000, 256)
    hub = ControlHub(Controls([st], sample_rate=16000), st.params)
    assert hub.load_preset("acapella") == "acapella"   # its 2048 is 1024 here too: no restart
    hub.save_preset("mine", "")
    assert presets.load("mine").params["fft_size"] == 2048


def test_analyze_serve_and_batch_at_16_khz_use_the_scaled_size(tmp_path, home):
    from panslice.plugin.offline import batch_work

    song = tmp_path / "talk.wav"
    sf.write(str(song), noise(16000, seed=7).T, 16000, subtype="FLOAT")
    note = "fft_size 1024 at 16000 Hz (the preset's 2048 at 44.1 kHz)"
    r = run_cli("analyze", song, "--json", "-o", tmp_path / "a.png")
    assert r.returncode == 0, r.stderr
    r = run_cli("analyze", song, "-o", tmp_path / "a.png")
    assert note in r.stdout, r.stdout
    heard = []
    for name, extra in (("s.wav", []), ("t.wav", ["--set", "fft_size=1024"])):
        r = run_cli("serve", song, "-o", tmp_path / name, "--osc-port", "0", "--preset", "acapella", *extra)
        assert r.returncode == 0, r.stderr
        assert (note in r.stderr) == (not extra), r.stderr
        heard.append(sf.read(str(tmp_path / name), dtype="float32")[0])
    assert np.array_equal(*heard)
    st = batch_work.settings(presets.load("acapella"), [], bit_depth=32)
    assert st.preset_fft == 2048 and batch_work.settings(presets.load("acapella"), ["fft_size=2048"]).preset_fft is None
    row = batch_work.run(batch_work.Task(str(song), str(tmp_path / "b.wav"), "x", st))
    assert row["status"] != "failed", row
    _, bounced = _bounce(tmp_path, "c.wav", "--preset", "acapella", "--set", "fft_size=1024")
    assert np.array_equal(sf.read(str(tmp_path / "b.wav"), dtype="float32")[0], bounced)
