"""analyze: the suggestion finds an off-centre voice, is no worse than the acapella preset on
real music, and the command writes its picture, report, --set line and user preset."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import scoring
from conftest import REAL_TRACKS, needs_real, pan, run_cli
from panslice.dsp import params as P
from panslice.plugin.offline import analyze
from panslice.plugin.formats import presets
from panslice.plugin.offline.bounce import render

SR = 44100


def voice_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A sung line: notes with glides and 5.5 Hz vibrato, vowel formants, syllable envelopes."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    notes = 196.0 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 12], size=int(seconds / 0.5) + 2) / 12)
    f0 = np.repeat(notes, int(0.5 * SR))[:n]
    f0 = np.convolve(f0, np.ones(2000) / 2000, mode="same")          # glides between notes
    f0 *= 1 + 0.015 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    vowels = rng.choice([(700, 1200, 2600), (400, 2000, 2800), (300, 900, 2400)], size=len(notes))
    formants = np.repeat(vowels, int(0.5 * SR), axis=0)[:n]
    sig = np.zeros(n)
    for k in range(1, 25):
        fk = k * f0
        amp = sum(np.exp(-0.5 * ((fk - formants[:, j]) / 150.0) ** 2) for j in range(3)) + 0.05
        sig += np.where(fk < SR / 2, amp / k ** 0.5, 0) * np.sin(k * phase)
    syll = np.clip(np.sin(np.pi * (t % 0.5) / 0.5) * 1.6, 0, 1) ** 2
    return 0.1 * sig * syll / np.abs(sig).max()


def band_mix(voice_pan: float, seconds: float = 6.0) -> np.ndarray:
    """The voice at ``voice_pan`` over a centred bass, a pad at -0.6 and hi-hats at +0.8."""
    rng = np.random.default_rng(1)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    bass = 0.12 * np.sin(2 * np.pi * np.repeat([55.0, 73.4, 82.4, 61.7], n // 4 + 1)[:n] * t)
    pad = sum(0.02 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate((262, 330, 392, 523)))
    pad *= 0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t)
    hat = rng.standard_normal(n) * (np.exp(-(t % 0.25) * 40) * 0.05)
    hat = hat - np.convolve(hat, np.ones(4) / 4, mode="same")          # mostly highs
    mix = pan(voice_like(seconds), voice_pan) + pan(bass, 0.0) + pan(pad, -0.6) + pan(hat, 0.8)
    return mix.astype(np.float32)


@pytest.mark.parametrize("voice_pan", [0.4, -0.3])
def test_suggested_centre_finds_an_off_centre_voice(voice_pan):
    a, _ = analyze.analyze(band_mix(voice_pan), SR, presets.load("acapella").params)
    print(a.text())
    assert abs(a.suggestion["center"] - voice_pan) <= 0.1
    assert abs(a.voice.center - voice_pan) <= 0.1


@needs_real
def test_suggestion_is_not_worse_than_acapella_on_real_tracks():
    aca = presets.load("acapella").params
    rows = []
    for t in REAL_TRACKS:
        mix, sr = scoring.load(t / "mixture.wav")
        voc, _ = scoring.load(t / "vocals.wav")
        a, _ = analyze.analyze(mix, sr, aca, t.name)
        sug = aca.copy()
        sug.update(a.suggestion)
        base = scoring.sdr(voc, render(mix, sr, aca, split=True, unity=True)[0])
        got = scoring.sdr(voc, render(mix, sr, sug, split=True, unity=True)[0])
        rows.append((t.name, a.suggestion["center"], a.suggestion["width"], base, got, a.verdict))
    print(f"\n{'track':<34} {'center':>6} {'width':>5} {'acapella':>9} {'suggested':>9}  verdict")
    for name, c, w, base, got, v in rows:
        print(f"{name:<34} {c:>6.2f} {w:>5.2f} {base:>8.2f}  {got:>8.2f}   {v}   (vocal SDR, dB)")
    for name, _, _, base, got, _ in rows:
        assert got >= base - 0.5, f"{name}: suggested {got:.2f} dB vs acapella {base:.2f} dB"


@pytest.mark.slow
def test_analyze_cli_suggests_saves_a_preset_and_draws(tmp_path, home):
    import soundfile as sf

    wav = tmp_path / "song.wav"
    sf.write(wav, band_mix(0.4).T, SR)
    r = run_cli("analyze", wav, "--suggest", "--save-preset", "my-song", "--set", "softness=0.3")
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("--preset acapella --set softness=0.3 --set center=0.")
    assert "centre removal likely to work" in r.stdout
    center = float(line.split("center=")[1].split()[0])
    assert abs(center - 0.4) <= 0.1
    saved = presets.load("my-song")
    assert saved.params["center"] == center and saved.params["softness"] == 0.3
    assert saved.params["rest_gain_db"] == P.NEG_INF               # the rest is acapella's
    assert "my-song" in run_cli("presets").stdout
    assert not list(tmp_path.glob("*.png"))                        # --suggest alone: no picture

    png = tmp_path / "pic.png"
    r = run_cli("analyze", wav, "-o", png, "--json", "--set", "band.1.gain_db=-inf")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert rep["current"]["bands"][0][2] == "-inf"
    assert {"lr_correlation", "near_centre_share", "voice", "suggestion", "verdict", "because"} <= set(rep)
    assert rep["suggestion_args"][0].startswith("--set center=")
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert width >= 1600 and height >= 1000

    r = run_cli("analyze", wav, "-o", tmp_path / "pic.jpg")
    assert r.returncode == 1 and "pic.jpg: the picture is written as PNG" in r.stderr
    r = run_cli("analyze", wav, "--suggest", "--save-preset", "../escape")
    assert r.returncode == 1 and "bad preset name" in r.stderr


def test_matplotlib_stays_off_the_bounce_start_up_path():
    code = ("import sys, panslice.plugin.cli, panslice.plugin.offline.bounce, panslice.plugin.offline.analyze; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_verdict_weighs_the_measured_voice_against_the_slice_in_use():
    aca = presets.load("acapella").params          # center 0, width 0.2
    a, _ = analyze.analyze(band_mix(0.45), SR, aca)
    assert a.verdict != "well" and "not inside the slice in use" in a.because
    moved = aca.copy()
    moved.update(a.suggestion)
    b, _ = analyze.analyze(band_mix(0.45), SR, moved)
    assert "not inside the slice in use" not in b.because


def test_the_picture_shows_its_marks_and_any_file_name(tmp_path, home, monkeypatch, capsys):
    """The legend is a dark strip of its own (no plot under it; white dotted softness edges
    show on it), every slice and suggestion mark has a black edge (seen on magma's pale top as
    on its black), and a file name in Cyrillic, Japanese and a script no font here has is
    written without a missing glyph: drawn where a font has it, as its code point where none
    does."""
    import warnings

    import matplotlib.colors as mc
    import soundfile as sf
    from matplotlib.figure import Figure

    from panslice.plugin import cli
    from panslice.plugin.offline import picture_style as style

    wav = tmp_path / "Пример_日本語_\U00013000.wav"
    sf.write(wav, band_mix(0.0, seconds=3.0).T, SR)
    figures, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (figures.append(fig), save(fig, *a, **k)))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # main() sets its own
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["analyze", str(wav), "-o", str(tmp_path / "a.png"), "-q"]) == 0
    said = capsys.readouterr().err + "".join(str(w.message) for w in caught)  # main() shows its own
    assert "missing from font" not in said and "findfont" not in said, said
    fig, = figures
    with_legend = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(with_legend) == 1 and not (with_legend[0].collections or with_legend[0].lines)
    legend = with_legend[0].get_legend()
    assert max(legend.get_frame().get_facecolor()[:3]) < 0.3
    assert "slice fade edges (softness)" in [t.get_text() for t in legend.get_texts()]
    marks = [m for ax in fig.axes for m in [*ax.lines, *ax.patches]
             if mc.to_hex(m.get_edgecolor() if hasattr(m, "get_fill") else m.get_color())
             in ("#ffffff", "#00ffff")]
    assert len(marks) >= 8 and all(m.get_path_effects() for m in marks)
    title = next(t.get_text() for ax in fig.axes for t in ax.texts if "panslice analyze" in t.get_text())
    assert "Пример" in title and "\\U00013000" in title
    assert ("日本語" in title) == style.drawable("日") != ("\\u65e5" in title)
