"""A file cut mid-way or whose header claims more than it holds is read for what is really there,
with a warning, never padded with silence (issue 18, defect 3)."""

import struct
import warnings

import numpy as np
import pytest
from pedalboard.io import AudioFile

from conftest import run_cli
from panslice.plugin.formats import audiofile

SR = 44100


def tone(seconds=4.0):
    t = np.arange(int(SR * seconds)) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 331 * t)]).astype(np.float32)


def write(path, audio=None):
    with AudioFile(str(path), "w", samplerate=SR, num_channels=2) as f:
        f.write(tone() if audio is None else audio)
    return path


def cut(path, fraction=0.5):
    data = path.read_bytes()
    out = path.with_name("cut" + path.suffix)
    out.write_bytes(data[:int(len(data) * fraction)])
    return out


def read(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio = audiofile.read_input(path)[0]
    return audio, [str(w.message) for w in caught]


@pytest.mark.parametrize("ext", [".wav", ".aiff", ".flac", ".mp3"])
def test_a_file_cut_in_the_middle_reads_what_is_there_and_says_so(tmp_path, ext):
    full, said = read(write(tmp_path / f"full{ext}"))
    assert said == []
    audio, said = read(cut(tmp_path / f"full{ext}"))
    assert len(said) == 1 and "truncated or corrupt" in said[0] and "processing what is there" in said[0]
    n = audio.shape[1]
    assert 0.2 * full.shape[1] < n < 0.6 * full.shape[1]
    # no silence passed off as audio: the tail is sound (the tone never stops)
    assert np.abs(audio[:, -100:]).max() > 0.01
    if ext != ".mp3":  # the part there is read exactly (mp3 decoding is frame-aligned)
        assert np.array_equal(audio, full[:, :n])


@pytest.mark.parametrize("fraction", [0.999, 0.99999])
def test_a_flac_cut_inside_its_last_frame_gives_the_frames_before_it(tmp_path, fraction):
    """Found by fuzzing: the cut last frame read as another frame's samples, with no warning
    (its frame header is intact; its CRC-16, at the end of the file, is not)."""
    full, _ = read(write(tmp_path / "full.flac"))
    audio, said = read(cut(tmp_path / "full.flac", fraction))
    assert len(said) == 1 and "truncated or corrupt" in said[0]
    n = audio.shape[1]
    assert full.shape[1] - 2 * 4608 < n < full.shape[1]
    assert np.array_equal(audio, full[:, :n])


def test_a_wav_header_claiming_ten_times_its_data_gives_the_data(tmp_path):
    p = write(tmp_path / "big.wav")
    b = bytearray(p.read_bytes())
    i = b.find(b"data")
    n = struct.unpack("<I", b[i + 4:i + 8])[0]
    b[i + 4:i + 8] = struct.pack("<I", n * 10)
    p.write_bytes(bytes(b))
    audio, said = read(p)
    assert audio.shape[1] == 4 * SR and "header says 40.00 s" in said[0]


def test_a_flac_header_claiming_ten_times_its_samples_gives_the_samples(tmp_path):
    p = write(tmp_path / "big.flac")
    b = bytearray(p.read_bytes())
    info = int.from_bytes(b[18:26], "big")
    total = info & ((1 << 36) - 1)
    b[18:26] = ((info - total) | total * 10).to_bytes(8, "big")
    p.write_bytes(bytes(b))
    audio, said = read(p)
    assert audio.shape[1] == 4 * SR and len(said) == 1


def test_an_intact_file_that_ends_in_digital_silence_keeps_its_length(tmp_path):
    x = tone()
    x[:, SR:] = 0.0
    for ext in (".flac", ".wav", ".mp3"):
        audio, said = read(write(tmp_path / f"quiet{ext}", x))
        assert said == [] and audio.shape[1] >= 4 * SR


def test_bounce_of_a_cut_wav_warns_and_writes_what_is_there(tmp_path):
    src = cut(write(tmp_path / "song.wav"))
    r = run_cli("bounce", src, "-o", tmp_path / "o.wav", "-q")
    assert r.returncode == 0, r.stderr
    assert "truncated or corrupt" in r.stderr
    with AudioFile(str(tmp_path / "o.wav")) as f:
        assert abs(f.frames - 2 * SR) < 100
