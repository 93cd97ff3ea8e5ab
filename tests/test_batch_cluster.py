"""`panslice batch`: a real Dask cluster on 127.0.0.1 (a scheduler and two single-threaded
worker processes, or the command's own LocalCluster), real files, S3 through moto's server.

Checks: outputs byte-identical to `panslice bounce`; a rerun bounces nothing, and a changed
input is redone; a worker killed mid-file has its file finished by another worker, once; a
corrupt file is one failed row while the others are done; an S3 round trip.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import noise, pan, run_cli

pytest.importorskip("distributed")
pytest.importorskip("fsspec")

from panslice.plugin.formats import presets  # noqa: E402
from panslice.plugin.offline import batch_work, catalogue, cluster, stamp  # noqa: E402

SR = 22050


def song(path: Path, seconds: float, seed: int) -> Path:
    n = int(seconds * SR)
    x = pan(noise(n, seed=seed)[0], 0.1) + 0.3 * noise(n, seed=seed + 100)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.T, SR, subtype="PCM_16")
    return path


def catalogue_in(folder: Path) -> list[Path]:
    return [song(folder / "a.wav", 1.5, 1), song(folder / "b.flac", 1.0, 2),
            song(folder / "disc2" / "c.wav", 1.2, 3)]


def read_report(path: Path) -> dict[str, dict]:
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return {r["input"]: r for r in csv.DictReader(f)}
    return {r["input"]: r for r in map(json.loads, path.read_text().splitlines())}


def wait_for(condition, what: str, tries: int = 600, step: float = 0.1):
    """Poll ``condition`` until it returns something truthy (bounded: tries x step)."""
    for _ in range(tries):
        got = condition()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


# ---- fast: planning and stamps, no cluster ------------------------------------------------

def test_folders_expand_recursively_by_extension_and_manifests_resolve_relative_paths(tmp_path):
    catalogue_in(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    items = catalogue.expand([str(tmp_path / "in")])
    assert [it.name for it in items] == ["a", "b", "disc2/c"]
    man = tmp_path / "list.csv"
    man.write_text("input,output,preset\nin/a.wav,,acapella\nin/disc2/c.wav,x/c.wav,\n")
    rows = catalogue.expand([str(man)])
    assert [Path(r.input).name for r in rows] == ["a.wav", "c.wav"]
    assert rows[0].preset == "acapella" and rows[1].output == str(tmp_path / "x" / "c.wav")
    with pytest.raises(catalogue.CatalogueError, match="no such file"):
        catalogue.expand([str(tmp_path / "missing")])


def test_two_inputs_that_would_write_one_output_are_refused(tmp_path):
    song(tmp_path / "in" / "a.wav", 0.2, 1)
    song(tmp_path / "in" / "a.flac", 0.2, 2)
    st = batch_work.settings(presets.load("karaoke"), [])
    with pytest.raises(catalogue.CatalogueError, match="would both write"):
        cluster.plan(catalogue.expand([str(tmp_path / "in")]), str(tmp_path / "out"), lambda p: st)


def test_stamp_skips_by_fingerprint_and_redoes_what_changed(tmp_path, home):
    src = song(tmp_path / "in" / "a.wav", 0.5, 1)
    karaoke = presets.load("karaoke")
    st = batch_work.settings(karaoke, [])

    def tasks(s):
        return cluster.plan(catalogue.expand([str(src)]), str(tmp_path / "out"), lambda p: s)

    first = batch_work.run(tasks(st)[0])
    assert first["status"] == "done", first
    assert cluster.check(tasks(st)).tasks == []                       # done: not even submitted
    assert len(cluster.check(tasks(batch_work.settings(karaoke, ["width=0.3"]))).tasks) == 1
    os.utime(src, (1, 1))                                             # touched, same bytes
    todo = cluster.check(tasks(st)).tasks
    assert len(todo) == 1 and batch_work.run(todo[0])["status"] == "skipped"
    assert cluster.check(tasks(st)).tasks == []                       # the new stamp was kept
    out = Path(tasks(st)[0].output)
    out.rename(out.with_suffix(".bak"))                               # an output deleted
    assert len(cluster.check(tasks(st)).tasks) == 1
    out.with_suffix(".bak").rename(out)
    song(src, 0.5, 7)                                                 # new content
    again = cluster.check(tasks(st)).tasks
    assert len(again) == 1 and batch_work.run(again[0])["status"] == "done"
    assert stamp.read(again[0].output)["input_sha256"] == stamp.content_hash(str(src))


@pytest.mark.slow
def test_a_chain_built_once_per_worker_renders_each_file_as_bounce_does(tmp_path, home):
    from test_chain import REVIVAL

    chain = tmp_path / "revival.toml"
    chain.write_text(REVIVAL)
    srcs = [song(tmp_path / "in" / f"s{k}.wav", 1.0, 40 + k) for k in range(2)]
    st = batch_work.settings(presets.load("karaoke"), ["rest_gain_db=-2"], chain_path=str(chain))
    tasks = cluster.plan(catalogue.expand([str(tmp_path / "in")]), str(tmp_path / "out"), lambda p: st)
    assert [batch_work.run(t)["status"] for t in tasks] == ["done", "done"]   # one chain, reused
    ref = run_cli("bounce", *srcs, "--chain", chain, "--set", "rest_gain_db=-2", "-o", tmp_path / "ref", "-q")
    assert ref.returncode == 0, ref.stderr
    for s in srcs:
        name = f"{s.stem}-revival.wav"
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


@pytest.mark.slow
def test_a_worker_loads_the_model_once_for_all_its_files(tmp_path, model_cache, monkeypatch):
    from panslice.plugin.ml import model, prior

    monkeypatch.setenv("XDG_CACHE_HOME", str(model_cache))
    monkeypatch.setattr(prior, "_net", None)
    loads = []
    real_load = model.load
    monkeypatch.setattr(model, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    srcs = [song(tmp_path / "in" / f"s{k}.wav", 1.0, 30 + k) for k in range(2)]
    st = batch_work.settings(presets.load("acapella-ml"), [], stems=True)
    tasks = cluster.plan(catalogue.expand([str(tmp_path / "in")]), str(tmp_path / "out"), lambda p: st)
    rows = [batch_work.run(t) for t in tasks]   # what one worker process does with its files
    assert [r["status"] for r in rows] == ["done", "done"], rows
    assert len(loads) == 1 and len(srcs) == 2


# ---- a running cluster: a scheduler and two workers on 127.0.0.1 --------------------------

@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` as the README starts
    them on real machines, here on 127.0.0.1; yields the scheduler's address."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                               str(info), *common],
                              stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "w"))]
    try:
        wait_for(lambda: info.exists() and info.stat().st_size, "the scheduler file")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info),
             "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1", "--local-directory",
             str(folder), *common], stdout=subprocess.DEVNULL, stderr=open(folder / "workers.log", "w")))
        address = json.loads(info.read_text())["address"]
        from distributed import Client

        with Client(address) as c:
            c.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
@pytest.mark.cluster
def test_batch_equals_bounce_then_a_rerun_bounces_nothing(tmp_path, home, scheduler):
    srcs = catalogue_in(tmp_path / "in")
    r = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--stems", "--cluster", scheduler,
                "--report", tmp_path / "r1.csv")
    assert r.returncode == 0, r.stderr
    rows = read_report(tmp_path / "r1.csv")
    assert {row["status"] for row in rows.values()} == {"done"} and len(rows) == 3
    assert len({row["worker"] for row in rows.values()}) >= 1
    ref = run_cli("bounce", *srcs, "--stems", "-o", tmp_path / "ref", "-q")
    assert ref.returncode == 0, ref.stderr
    for src, sub in zip(srcs, ["", "", "disc2/"]):
        for stem in ("vocals", "accompaniment"):
            got = (tmp_path / "out" / f"{sub}{src.stem}-karaoke" / f"{stem}.wav").read_bytes()
            assert got == (tmp_path / "ref" / f"{src.stem}-karaoke" / f"{stem}.wav").read_bytes()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}

    again = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--stems", "--cluster", scheduler,
                    "--report", tmp_path / "r2.jsonl")
    assert again.returncode == 0, again.stderr
    assert {row["status"] for row in read_report(tmp_path / "r2.jsonl").values()} == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")} == before

    song(srcs[1], 1.0, 9)   # one input changes: only it is redone
    third = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--stems", "--cluster", scheduler,
                    "--report", tmp_path / "r3.jsonl")
    assert third.returncode == 0, third.stderr
    status = {Path(k).name: v["status"] for k, v in read_report(tmp_path / "r3.jsonl").items()}
    assert status == {"a.wav": "skipped", "b.flac": "done", "c.wav": "skipped"}


@pytest.mark.slow
@pytest.mark.cluster
def test_a_corrupt_file_is_one_failed_row_and_the_others_are_done(tmp_path, home, scheduler):
    catalogue_in(tmp_path / "in")
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF but not really audio")
    r = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--cluster", scheduler,
                "--report", tmp_path / "r.csv", "-q")
    assert r.returncode == 1
    rows = read_report(tmp_path / "r.csv")
    failed = [row for row in rows.values() if row["status"] == "failed"]
    assert len(rows) == 4 and len(failed) == 1
    assert "broken.wav" in failed[0]["error"] and "broken.wav" in r.stderr
    done = sorted(Path(k).name for k, v in rows.items() if v["status"] == "done")
    assert done == ["a.wav", "b.flac", "c.wav"]
    assert not (tmp_path / "out" / "broken-karaoke.wav").exists()
    assert not (tmp_path / "out" / ("broken-karaoke.wav" + stamp.SUFFIX)).exists()


@pytest.mark.slow
@pytest.mark.cluster
def test_a_worker_killed_mid_file_has_its_file_finished_elsewhere_once(tmp_path, home, scheduler):
    from distributed import Client

    long = song(tmp_path / "in" / "a-long.wav", 60.0, 4)   # sorted first: task 0
    song(tmp_path / "in" / "b-short.wav", 0.5, 5)
    proc = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", "batch", str(tmp_path / "in"),
                             "-o", str(tmp_path / "out"), "--cluster", scheduler, "--report",
                             str(tmp_path / "r.jsonl"), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    with Client(scheduler) as mon:
        def executing_long():
            running = mon.run(lambda dask_worker: [str(getattr(t, "key", t))
                                                   for t in dask_worker.state.executing])
            return next((addr for addr, keys in running.items() if any(k.endswith("-0") for k in keys)), None)

        victim = wait_for(executing_long, "the long file to start on a worker", tries=1200)
        pid = mon.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
        mon.wait_for_workers(2, timeout=120)   # the nanny restarts it for the next test
    assert proc.returncode == 0, err
    rows = read_report(tmp_path / "r.jsonl")
    assert rows[str(long)]["status"] == "done" and rows[str(long)]["worker"] != victim
    assert len(rows) == 2
    files = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    assert files == ["a-long-karaoke.wav", "a-long-karaoke.wav" + stamp.SUFFIX,
                     "b-short-karaoke.wav", "b-short-karaoke.wav" + stamp.SUFFIX]
    ref = run_cli("bounce", long, "-o", tmp_path / "ref.wav", "-q")
    assert ref.returncode == 0, ref.stderr
    assert (tmp_path / "out" / "a-long-karaoke.wav").read_bytes() == (tmp_path / "ref.wav").read_bytes()


@pytest.mark.slow
@pytest.mark.cluster
def test_a_batch_killed_and_restarted_finishes_the_rest_without_redoing_the_done(tmp_path, home, scheduler):
    song(tmp_path / "in" / "a.wav", 0.3, 6)
    for k in range(3):
        song(tmp_path / "in" / f"long{k}.wav", 30.0, 10 + k)
    report = tmp_path / "r1.jsonl"
    first = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", "batch", str(tmp_path / "in"),
                              "-o", str(tmp_path / "out"), "--cluster", scheduler, "--report", str(report),
                              "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: report.exists() and report.read_text().count("\n") >= 1, "a first row", tries=1200)
    first.kill()
    first.wait()
    done_first = {k for k, v in read_report(report).items() if v["status"] == "done"}
    assert done_first and len(done_first) < 4
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.wav")}

    again = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--cluster", scheduler,
                    "--report", tmp_path / "r2.jsonl", "-q")
    assert again.returncode == 0, again.stderr
    rows = read_report(tmp_path / "r2.jsonl")
    assert len(rows) == 4 and {v["status"] for v in rows.values()} <= {"done", "skipped"}
    assert all(rows[k]["status"] == "skipped" for k in done_first)
    for k in done_first:   # not rewritten
        out = tmp_path / "out" / f"{Path(k).stem}-karaoke.wav"
        assert out.stat().st_mtime_ns == before[out]
    st = batch_work.settings(presets.load("karaoke"), [])
    tasks = cluster.plan(catalogue.expand([str(tmp_path / "in")]), str(tmp_path / "out"), lambda p: st)
    assert cluster.check(tasks).tasks == []   # every output complete and stamped


# ---- S3: moto's server on 127.0.0.1, the command's own LocalCluster -----------------------

@pytest.fixture
def s3(tmp_path):
    """A real S3 API (moto's server mode) on 127.0.0.1; yields the environment that points
    boto/s3fs at it."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "moto.log", "w"))
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    try:
        wait_for(up, "moto's server")
        yield env
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
@pytest.mark.cluster
def test_s3_round_trip_through_motos_server(tmp_path, home, s3, monkeypatch):
    import s3fs

    for k, v in s3.items():
        monkeypatch.setenv(k, v)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("songs")
    srcs = catalogue_in(tmp_path / "in")
    fs.put(str(tmp_path / "in") + "/", "songs/in/", recursive=True)
    args = ["batch", "s3://songs/in", "-o", "s3://songs/out", "--workers", "2", "--report",
            "s3://songs/out/report.jsonl", "-q"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in fs.cat_file("songs/out/report.jsonl").decode().splitlines()]
    assert sorted(row["status"] for row in rows) == ["done"] * 3
    ref = run_cli("bounce", *srcs, "-o", tmp_path / "ref", "-q")
    assert ref.returncode == 0, ref.stderr
    for src, sub in zip(srcs, ["", "", "disc2/"]):
        got = fs.cat_file(f"songs/out/{sub}{src.stem}-karaoke.wav")
        assert got == (tmp_path / "ref" / f"{src.stem}-karaoke.wav").read_bytes()
    again = run_cli(*args[:-3], "--report", tmp_path / "again.jsonl", "-q")
    assert again.returncode == 0, again.stderr
    assert {row["status"] for row in read_report(tmp_path / "again.jsonl").values()} == {"skipped"}


# ---- formats, the command's own cluster, --workers 0 ------------------------------------------

FORMAT_CASES = [("--stems", "--format", "flac", "--bit-depth", "24"), ("--format", "mp3"),
                ("--format", "aiff", "--bit-depth", "24"), ("--bit-depth", "32"), ("--stems", "--format", "ogg")]


def _same_audio(got: Path, ref: Path, fmt: str) -> None:
    if fmt == "ogg":   # the Ogg stream's serial number is random: the samples must match
        a, sr_a = sf.read(got, dtype="float32")
        b, sr_b = sf.read(ref, dtype="float32")
        assert sr_a == sr_b and a.shape == b.shape and (a == b).all(), got
    else:
        assert got.read_bytes() == ref.read_bytes(), got
    assert sf.info(got).format == sf.info(ref).format and sf.info(got).subtype == sf.info(ref).subtype


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("flags", FORMAT_CASES, ids=lambda f: "-".join(a.strip("-") for a in f))
def test_other_formats_and_bit_depths_are_what_bounce_writes_with_the_same_flags(tmp_path, home, scheduler,
                                                                                   flags):
    srcs = [song(tmp_path / "in" / "a.wav", 1.0, 21), song(tmp_path / "in" / "b.flac", 0.8, 22)]
    fmt = flags[flags.index("--format") + 1] if "--format" in flags else "wav"
    r = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", *flags, "--cluster", scheduler, "-q")
    assert r.returncode == 0, r.stderr
    if "--stems" in flags:
        ref = run_cli("bounce", *srcs, *flags, "-o", tmp_path / "ref", "-q")
        assert ref.returncode == 0, ref.stderr
        pairs = [(tmp_path / d / f"{s.stem}-karaoke" / f"{stem}.{fmt}" for d in ("out", "ref"))
                 for s in srcs for stem in ("vocals", "accompaniment")]
    else:
        pairs = []
        mix_flags = [f for f in flags if f not in ("--format", fmt)]   # bounce: the format is -o's
        for s in srcs:
            name = f"{s.stem}-karaoke.{fmt}"
            ref = run_cli("bounce", s, *mix_flags, "-o", tmp_path / "ref" / name, "-q")
            assert ref.returncode == 0, ref.stderr
            pairs.append((tmp_path / "out" / name, tmp_path / "ref" / name))
    for got, want in pairs:
        _same_audio(Path(got), Path(want), fmt)


def test_a_format_that_cannot_hold_the_bit_depth_or_a_manifest_output_of_another_format_is_refused(
        tmp_path, home):
    src = song(tmp_path / "in" / "a.wav", 0.2, 1)
    r = run_cli("batch", src, "-o", tmp_path / "out", "--format", "flac", "--bit-depth", "32", "-q")
    assert r.returncode == 1 and "needs --format wav" in r.stderr, r.stderr
    man = tmp_path / "list.csv"
    man.write_text("input,output\nin/a.wav,x/a.flac\n")
    r = run_cli("batch", man, "-q")
    assert r.returncode == 1 and "x/a.flac: would hold wav" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.cluster
def test_a_batch_killed_with_its_own_cluster_leaves_no_worker_and_a_rerun_resumes(tmp_path, home):
    import psutil

    for k in range(4):
        song(tmp_path / "in" / f"s{k}.wav", 20.0, 50 + k)
    report = tmp_path / "r1.jsonl"
    first = subprocess.Popen([sys.executable, "-m", "panslice.plugin.cli", "batch", str(tmp_path / "in"),
                              "-o", str(tmp_path / "out"), "--workers", "2", "--report", str(report), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: report.exists() and report.read_text().count("\n") >= 1, "a first row", tries=1200)
    family = psutil.Process(first.pid).children(recursive=True)
    workers = [p for p in family if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in family]
    first.kill()
    first.wait()

    def all_gone():
        return not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    wait_for(all_gone, "the killed batch's workers to exit", tries=1200)
    done_first = {k for k, v in read_report(report).items() if v["status"] == "done"}
    assert done_first and len(done_first) < 4
    # a worker may publish a song's outputs after its row was last read (the kill came between):
    # whole outputs, which the rerun rightly skips too
    published = {p.resolve() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    again = run_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--workers", "2",
                    "--report", tmp_path / "r2.jsonl", "-q")
    assert again.returncode == 0, again.stderr
    rows = read_report(tmp_path / "r2.jsonl")
    assert len(rows) == 4 and all(rows[k]["status"] == "skipped" for k in done_first)
    for k, v in rows.items():
        if k not in done_first:
            assert v["status"] == "done" or (
                v["status"] == "skipped" and v["outputs"]
                and all(Path(o).resolve() in published for o in v["outputs"])), (k, v)
    assert any(v["status"] == "done" for v in rows.values())
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]


@pytest.mark.slow
@pytest.mark.cluster
def test_workers_0_starts_one_worker_per_cpu(tmp_path, home, monkeypatch):
    """--workers 0 means one per CPU, as bounce -j 0 does (the CPUs faked to 3 here, so it
    is not the default 2 by chance)."""
    from panslice.plugin import cli
    from panslice.plugin.offline import batch

    song(tmp_path / "in" / "a.wav", 0.3, 1)
    monkeypatch.setattr(batch, "default_workers", lambda: 3)
    seen, real = [], cluster.connect

    def counting(workers, address):
        client, local = real(workers, address)
        seen.append(len(client.scheduler_info()["workers"]))
        return client, local

    monkeypatch.setattr(cluster, "connect", counting)
    assert cli.main(["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--workers", "0", "-q"]) == 0
    assert seen == [3]
    r = run_cli("batch", tmp_path / "in", "--workers", "-1")
    assert r.returncode == 2 and "not a number of jobs" in r.stderr
