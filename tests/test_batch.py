"""`panslice bounce A B C -j N`: parallel processes give the same files as one at a time, and a
file that fails is reported by name while the others are still bounced."""

import numpy as np
import pytest
import soundfile as sf

from conftest import noise, pan, run_cli

SR = 44100


def make_inputs(folder):
    paths = []
    for k in range(3):
        x = pan(noise(2 * SR, seed=10 + k)[0], 0.0) + 0.3 * noise(2 * SR, seed=20 + k)
        p = folder / f"song{k}.wav"
        sf.write(p, x.T, SR, subtype="FLOAT")
        paths.append(p)
    return paths


@pytest.mark.slow
def test_parallel_bounce_equals_serial_and_reports_each_failure(tmp_path, home):
    good = make_inputs(tmp_path)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    inputs = [good[0], bad, good[1], good[2]]

    serial = run_cli("bounce", *good, "--stems", "-o", tmp_path / "serial", "-q", "-j", "1")
    assert serial.returncode == 0, serial.stderr
    par = run_cli("bounce", *inputs, "--stems", "-o", tmp_path / "par", "-j", "2")
    assert par.returncode == 1
    errors = [ln for ln in par.stderr.splitlines() if ln.startswith("panslice: error:")]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert "1 of 4 files failed" in par.stderr
    assert par.stdout.count("wrote ") == 6  # two stems for each good file
    for p in good:
        for stem in ("vocals", "accompaniment"):
            a, _ = sf.read(tmp_path / "serial" / f"{p.stem}-karaoke" / f"{stem}.wav")
            b, _ = sf.read(tmp_path / "par" / f"{p.stem}-karaoke" / f"{stem}.wav")
            assert np.array_equal(a, b)


def test_jobs_must_be_a_count(tmp_path, home):
    r = run_cli("bounce", tmp_path / "x.wav", "-j", "two")
    assert r.returncode == 2
    assert "'two' is not a number of jobs" in r.stderr
