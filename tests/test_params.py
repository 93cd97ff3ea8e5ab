import math

import pytest

from panslice.dsp import params as P
from panslice.dsp.errors import ParameterError


def test_every_parameter_declared_once_with_sane_fields():
    names = [p.name for p in P.REGISTRY]
    assert len(names) == len(set(names))
    for i, p in enumerate(P.REGISTRY):
        assert p.index == i
        assert p.scale in {"linear", "db", "hz", "choice", "int"}
        assert p.smoothing_ms >= 0
        assert p.validate(p.default) == p.default
        assert p.doc
    assert sum(n.startswith("band.") for n in names) == 3 * P.MAX_BANDS


@pytest.mark.parametrize("name,value,fragment", [
    ("center", 1.5, "center=1.5 is out of range (valid: -1 .. 1)"),
    ("target_gain_db", 20, "target_gain_db=20 is out of range (valid: -inf .. 12 dB)"),
    ("fft_size", 1000, "fft_size=1000 is not allowed (valid: one of 512, 1024, 2048, 4096, 8192)"),
    ("band_count", 2.5, "must be a whole number"),
    ("width", "wide", "expected a number"),
    ("width", float("nan"), "NaN"),
])
def test_bad_values_name_the_parameter_and_range(name, value, fragment):
    with pytest.raises(ParameterError) as e:
        P.get(name).validate(value)
    assert fragment in str(e.value)


def test_unknown_parameter_suggests_close_names():
    with pytest.raises(ParameterError, match="did you mean center"):
        P.get("centre")


def test_minus_inf_gain_is_legal():
    assert P.get("rest_gain_db").validate("-inf") == -math.inf


def test_update_is_all_or_nothing():
    ps = P.ParamSet()
    with pytest.raises(ParameterError):
        ps.update({"center": 0.5, "width": 5})
    assert ps["center"] == 0.0


def test_bands_shorthand_and_band_fields():
    ps = P.ParamSet()
    P.apply_overrides(ps, {"bands": "120-8000,8000-16000:-6"})
    assert ps.bands() == [(120.0, 8000.0, 0.0), (8000.0, 16000.0, -6.0)]
    P.apply_overrides(ps, {"band_count": 3, "band.3.low_hz": "50", "band.3.high_hz": "90"})
    assert ps["band_count"] == 3
    with pytest.raises(ParameterError, match="low_hz .* must be below high_hz"):
        ps.set_bands([(500, 100, 0)])
    with pytest.raises(ParameterError, match="1 to 8 bands"):
        ps.set_bands([(1, 2, 0)] * 9)
    with pytest.raises(ParameterError, match="LOW-HIGH"):
        P.parse_bands("120")


def test_a_field_of_an_inactive_band_is_refused_not_activated():
    ps = P.ParamSet()
    with pytest.raises(ParameterError, match="band 2 is not active .band_count is 1.; add --set band_count=2"):
        P.apply_overrides(ps, {"band.2.gain_db": "-6"})
    assert ps["band_count"] == 1 and ps["band.2.gain_db"] == 0.0
    P.apply_overrides(ps, {"band_count": "2", "band.2.gain_db": "-6"})
    assert ps.bands()[1] == (0.0, P.BAND_TOP_HZ, -6.0)


@pytest.mark.parametrize("over", [{"band.1.low_hz": "5000", "band.1.high_hz": "100"},
                                  {"band.1.low_hz": "96000"}])
def test_inverted_band_edges_are_refused_field_by_field(over):
    ps = P.ParamSet()
    with pytest.raises(ParameterError, match="band 1: low_hz .* must be below high_hz"):
        P.apply_overrides(ps, over)
    assert ps.bands() == [(0.0, P.BAND_TOP_HZ, 0.0)]
