import math
import tomllib
from importlib import resources

import pytest

from conftest import run_cli
from panslice.dsp import params as P
from panslice.plugin.formats import presets

REQUIRED = {"karaoke", "acapella", "vocal-lift", "dialogue", "low-latency"}


def test_required_presets_ship():
    assert REQUIRED <= set(presets.shipped_names())


@pytest.mark.parametrize("name", presets.shipped_names())
def test_shipped_preset_file_holds_registry_names_and_legal_values(name):
    """The file as written, before the loader fills in defaults: every key is known, every value
    legal for its parameter, and the loaded preset holds exactly those values."""
    raw = tomllib.loads((resources.files("panslice.presets") / f"{name}.toml").read_text("utf-8"))
    assert raw.get("format") == presets.FORMAT
    assert set(raw) <= {"format", "description", "outputs", "params", "bands", "auto"}
    assert isinstance(raw.get("description"), str) and raw["description"].strip()
    outputs = raw.get("outputs")
    assert isinstance(outputs, list) and len(outputs) == 2 and outputs[0] != outputs[1]
    assert all(isinstance(o, str) and presets.NAME_RE.match(o) for o in outputs)
    loaded = presets.load(name)
    for key, value in raw.get("params", {}).items():
        assert key in P.BY_NAME and not key.startswith("band"), key
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert P.BY_NAME[key].validate(value) == value
        assert loaded.params[key] == value
    bands = raw.get("bands", [])
    assert isinstance(bands, list) and len(bands) <= P.MAX_BANDS
    for i, band in enumerate(bands, 1):
        assert set(band) <= set(P.BAND_FIELDS), band
        for field, value in band.items():
            assert P.get(P.band_name(i, field)).validate(value) == value
        assert band.get("low_hz", 0.0) < band.get("high_hz", math.inf)
    if bands:
        assert loaded.params.bands() == [tuple(float(b.get(f, P.get(P.band_name(1, f)).default))
                                               for f in P.BAND_FIELDS) for b in bands]
    assert loaded.description == raw["description"] and loaded.outputs == tuple(outputs)


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


def test_a_description_with_control_characters_and_unicode_round_trips(home):
    text = 'tab\there, bell\x07, nul\x00, del\x7f, "quoted" \\ back, line\nbreak; \u00e9\u00e8 \u65e5\u672c \U0001f3b5'
    ps = presets.load("vocal-lift").params
    path = presets.save_user(presets.Preset("odd", text, ("voice", "band"), ps, "user"))
    raw = tomllib.loads(path.read_text(encoding="utf-8"))  # valid TOML: control characters escaped
    assert raw["description"] == text
    back = presets.load("odd")
    assert back.description == text and back.params.as_dict() == ps.as_dict()


def test_a_bad_user_preset_is_named_and_the_good_ones_still_listed(home):
    d = presets.user_dir()
    d.mkdir(parents=True)
    (d / "broken.toml").write_text("[[bands]]\nlow_hz = 5000\nhigh_hz = 100\n")
    r = run_cli("presets")
    assert r.returncode == 1
    assert all(any(line.startswith(n) for line in r.stdout.splitlines()) for n in REQUIRED)
    assert "broken.toml" in r.stderr and "must be below high_hz" in r.stderr


def test_presets_with_inverted_bands_or_shipped_names_are_not_saved(home):
    ps = P.ParamSet({"band.1.low_hz": 5000, "band.1.high_hz": 100})   # as a running session may hold
    with pytest.raises(presets.PresetError, match="not saved: band 1: low_hz"):
        presets.save_user(presets.Preset("inverted", "", ("a", "b"), ps, "user"))
    for name in ("karaoke", "Karaoke"):
        with pytest.raises(presets.PresetError, match="is a shipped preset: save under another name"):
            presets.save_user(presets.Preset(name, "", ("a", "b"), P.ParamSet(), "user"))
    assert not presets.user_dir().exists() or not any(presets.user_dir().iterdir())


def test_a_user_file_that_shadows_a_shipped_preset_says_so(home):
    d = presets.user_dir()
    d.mkdir(parents=True)
    (d / "karaoke.toml").write_text("[params]\nwidth = 0.5\n")
    r = run_cli("presets")
    line = next(x for x in r.stdout.splitlines() if x.startswith("karaoke "))
    assert "used instead of the shipped one" in line and str(d / "karaoke.toml") in line


def test_preset_names_ignore_case_and_suggest_close_ones(home):
    assert presets.load("Vocal-Lift").name == "vocal-lift"
    with pytest.raises(presets.PresetError, match="did you mean karaoke"):
        presets.load("karoke")
