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
    ["studio", "{song}", "--out-dir", "{song}"],
    ["studio", "{song}", "--output-file", "{dir}/o.wav", "--out-dir", "{dir}/o.wav"],
    ["bounce", "{song}", "{song}", "--stems", "-o", "{dir}/twice"],
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


def test_the_studio_page_never_bounces_over_the_session_s_own_files(tmp_path, song):
    """--out-dir holds the page's bounces: one named like the session's recording (or its
    automation, or its edits file) is refused, the recording left as it was."""
    from panslice.plugin.formats import presets
    from panslice.plugin.studio.bouncer import Bouncer

    heard = tmp_path / "song-karaoke.wav"     # what the page's karaoke bounce would be called
    heard.write_bytes(b"the take")
    state = presets.load("karaoke").params.as_dict()
    b = Bouncer(song, tmp_path, None, lambda msg: None, keep=[("--output-file", heard)])
    with pytest.raises(PansliceError, match="would be written there"):
        b.start(state, "karaoke", None, stems=False)
    assert heard.read_bytes() == b"the take" and b.thread is None
