"""No output of any kind may be an input or another output (issue 18, defect 2): refused before
any work, the input left as it was."""

import os

import pytest
import soundfile as sf

from conftest import noise, run_cli
from panslice.dsp.errors import PansliceError
from panslice.plugin.formats.paths import check_apart

SR = 44100


@pytest.fixture
def song(tmp_path):
    p = tmp_path / "song.wav"
    sf.write(str(p), noise(SR // 4).T, SR, subtype="PCM_16")
    return p


@pytest.mark.parametrize("args", [
    ["serve", "{song}", "--record-automation", "{song}"],
    ["live", "--input-file", "{song}", "--output", "none", "--record-automation", "{song}"],
    ["live", "--input-file", "{song}", "--output", "none", "--output-file", "{song}"],
    ["serve", "{song}", "-o", "{dir}/o.wav", "--record-automation", "{dir}/./o.wav"],
    ["live", "--input-file", "{song}", "--output", "none", "--output-file", "{dir}/o.wav",
     "--record-automation", "{dir}/o.wav"],
    ["analyze", "{song}", "-o", "{song}"],
])
def test_an_output_that_is_an_input_or_another_output_is_refused(tmp_path, song, args):
    before = song.read_bytes()
    r = run_cli(*(a.format(song=song, dir=tmp_path) for a in args))
    assert r.returncode == 1
    assert "would overwrite" in r.stderr or "would be written there" in r.stderr, r.stderr
    assert song.read_bytes() == before
    assert not (tmp_path / "o.wav").exists()


def test_links_and_spellings_are_the_same_file(tmp_path, song):
    os.link(song, tmp_path / "hard.wav")
    os.symlink(song, tmp_path / "soft.wav")
    for other in ("hard.wav", "soft.wav", "./song.wav"):
        with pytest.raises(PansliceError, match="would overwrite the input"):
            check_apart([("the input", song)], [("--record-automation", tmp_path / other)])
    with pytest.raises(PansliceError, match="would be written there"):
        check_apart([], [("-o", tmp_path / "new.wav"), ("--record-automation", tmp_path / "x/../new.wav")])
    check_apart([("the input", song), ("--chain", None)],
                [("-o", tmp_path / "a.wav"), ("--record-automation", tmp_path / "a.csv")])
