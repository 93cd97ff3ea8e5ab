import pytest

from conftest import run_cli
from panslice.dsp import params as P
from panslice.plugin.formats import presets

REQUIRED = {"karaoke", "acapella", "vocal-lift", "dialogue", "low-latency"}


def test_required_presets_ship_and_validate():
    names = set(presets.shipped_names())
    assert REQUIRED <= names
    for name in names:
        pr = presets.load(name)
        assert pr.description and len(pr.outputs) == 2
        for p in P.REGISTRY:
            p.validate(pr.params[p.name])


def test_presets_slice_as_their_names_say():
    k, a, v = presets.load("karaoke"), presets.load("acapella"), presets.load("vocal-lift")
    assert k.params["target_gain_db"] == -float("inf") and k.params["rest_gain_db"] == 0
    assert a.params["rest_gain_db"] == -float("inf") and a.params["target_gain_db"] == 0
    assert v.params["target_gain_db"] == 6 and v.params["rest_gain_db"] == 0
    assert presets.load("low-latency").params["fft_size"] <= 1024
    assert k.outputs == ("vocals", "accompaniment")


@pytest.mark.parametrize("text,fragment", [
    ("[params]\ncenter = 3\n", "center=3 is out of range"),
    ("[params]\ncentre = 0\n", "unknown parameter 'centre'"),
    ("outputs = ['a']\n", "outputs must be two different plain names"),
    ("[[bands]]\nlow_hz = 900\nhigh_hz = 100\n", "must be below high_hz"),
    ("colour = 1\n", "unknown keys"),
    ("[params\n", "not valid TOML"),
])
def test_bad_preset_files_fail_with_the_file_name(home, text, fragment):
    d = presets.user_dir()
    d.mkdir(parents=True)
    (d / "mine.toml").write_text(text)
    with pytest.raises(presets.PresetError) as e:
        presets.load("mine")
    assert str(d / "mine.toml") in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("bad", ["../evil", "a/b", ".hidden", "", "x" * 65])
def test_user_preset_names_cannot_escape_the_folder(home, bad):
    with pytest.raises(presets.PresetError, match="bad preset name"):
        presets.check_name(bad)


def test_saved_user_preset_round_trips_and_lists(home):
    ps = presets.load("karaoke").params.copy()
    ps.update({"width": 0.33})
    ps.set_bands([(100, 5000, -3), (5000, 9000, 0)])
    presets.save_user(presets.Preset("my-mix", "mine", ("a", "b"), ps, "user"))
    back = presets.load("my-mix")
    assert back.params.as_dict() == ps.as_dict() and back.outputs == ("a", "b")
    out = run_cli("presets", env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
    lines = out.stdout.splitlines()
    assert any(line.startswith("my-mix") and "[user]" in line for line in lines)
    assert all(any(line.startswith(n) for line in lines) for n in REQUIRED)
