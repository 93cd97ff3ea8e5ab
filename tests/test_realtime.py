"""Real-time safety without clocks: a block in steady state allocates nothing that stays, no
array at all, and the numba kernel allocates nothing per frame. (How long a block takes is a
benchmark figure, benchmarks/speed.py, never a test.)"""

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from conftest import noise
from panslice.dsp import Engine
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.stage import Stage

SR = 44100
SETTINGS = {"width": 0.3, "target_gain_db": -6.0, "band_count": 2, "band.1.high_hz": 2000.0,
            "band.2.low_hz": 3000.0, "band.2.gain_db": -3.0}  # per-band path: two inverse FFTs


def traced_bytes(process, blocks: int) -> tuple[int, int]:
    """(bytes still held after ``blocks`` calls, largest transient rise during them)."""
    tracemalloc.start()
    try:
        process(0)  # settle anything tracemalloc itself allocates on first sight
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(blocks):
            process(i)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return cur - base, peak - base


@pytest.mark.parametrize("block", [64, 2048])
@pytest.mark.parametrize("split", [False, True])
def test_engine_block_allocates_no_array_and_keeps_nothing(block, split):
    eng = Engine(SETTINGS).prepare(SR, block)
    x = noise(block * 64, seed=1)
    out = np.empty((2, 2, block) if split else (2, block), np.float32)
    run = eng.process_split if split else eng.process

    def process(i):
        k = i % 64
        run(x[:, k * block:(k + 1) * block], out)

    for i in range(128):  # compile, fill the frame, reach steady state
        process(i)
    held_short, _ = traced_bytes(process, 200)
    held_long, transient = traced_bytes(process, 2000)
    assert held_long <= held_short + 64 and held_long < 1024  # nothing accumulates per block
    # the only transients are small Python objects (views, argument tuples), never an array:
    # one (2, 2048) float32 block alone is 16 KiB
    assert transient < 8192


def test_chain_block_keeps_nothing():
    block = 2048
    chain = Chain([Stage(SETTINGS)]).prepare(SR, block)
    x = noise(block * 64, seed=2)
    out = np.empty((2, block), np.float32)

    def process(i):
        k = i % 64
        chain.process_block(x[:, k * block:(k + 1) * block], out)

    for i in range(256):
        process(i)
    held_short, _ = traced_bytes(process, 200)
    held_long, transient = traced_bytes(process, 2000)
    assert held_long <= held_short + 64 and held_long < 1024
    assert transient < 8192  # a (2, 2048) float32 block alone is 16 KiB


KERNEL_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba.core.runtime import rtsys
    from panslice.dsp import Engine
    settings = json.loads(sys.argv[1])
    counts = {}
    for block, prepared, publish in ((128, 8192, 0), (8192, 8192, 0), (128, 128, 0), (8192, 8192, 16)):
        eng = Engine(settings).prepare(44100, prepared)
        eng.publish_frames(publish)
        x = (0.1 * np.random.default_rng(0).standard_normal((2, block * 40))).astype(np.float32)
        out = np.empty((2, block), np.float32)
        for i in range(10):
            eng.process(x[:, i * block:(i + 1) * block], out)
        a = rtsys.get_allocation_stats()
        for i in range(10, 40):
            eng.process(x[:, i * block:(i + 1) * block], out)
        b = rtsys.get_allocation_stats()
        counts[f"{block}/{prepared}/{publish}"] = [b.alloc - a.alloc, b.free - a.free, eng.frames_processed]
    print(json.dumps(counts))
""")


# a slice competing with two rivals for the bins, by level and delay (bounce --sources' stems)
COMPETING = {"direction_cue": 2, "delay_center_ms": 0.2, "rivals": 2, "rival.1.center": 0.3,
             "rival.1.delay_ms": -0.2, "rival.2.center": -0.3, "smooth_ms": 20}


@pytest.mark.parametrize("settings", [SETTINGS, COMPETING])
def test_kernel_allocates_nothing_per_frame(settings):
    """numba's runtime counts every allocation. Calling the kernel wraps each array argument
    (a fixed count per call); inside, frames must allocate nothing: 30 calls of 8192 samples
    (480 frames) allocate exactly as often as 30 calls of 128 samples (7 frames), and as the
    same 128-sample calls with the work of each frame spread over the blocks of a hop, and as
    8192-sample calls that publish each frame for a picture."""
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    r = subprocess.run([sys.executable, "-c", KERNEL_PROBE, json.dumps(settings)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    small, large, spread = counts["128/8192/0"], counts["8192/8192/0"], counts["128/128/0"]
    published = counts["8192/8192/16"]
    assert large[2] > 10 * small[2]  # many more frames ran with large blocks
    for c in (small, large, spread, published):
        assert c[0] == c[1]  # everything allocated was freed
    assert large[0] == small[0] == spread[0] == published[0]  # and the count is per call, not per frame


def test_audio_thread_asks_for_real_time_and_restores_the_thread():
    from panslice.plugin.live import realtime

    before = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    with realtime.audio_thread() as granted:
        now = os.sched_getscheduler(0)
        assert ("SCHED_FIFO priority" in granted) == (now == os.SCHED_FIFO)
        assert "memory" in granted
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before


def test_audio_thread_says_so_when_real_time_is_refused(monkeypatch):
    from panslice.plugin.live import realtime

    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with realtime.audio_thread(lock_memory=False) as granted:
        pass
    assert granted == "normal priority (SCHED_FIFO not permitted: Operation not permitted)"


def test_stage_without_copies_gives_the_same_audio_in_place_too():
    """A C-contiguous float32 block goes into the engine and out of it without the stage's
    copies; a strided block, float64 or an in-place call take the copies. All sound the same."""
    x = noise(8 * 512, seed=3)
    outs = []
    for mode in ("contiguous", "strided", "float64", "in place"):
        stage = Stage(SETTINGS).prepare(SR, 512)
        wide = np.zeros((2, 2 * 512), np.float32)
        got = np.empty_like(x)
        for k in range(8):
            blk = np.ascontiguousarray(x[:, k * 512:(k + 1) * 512])
            if mode == "contiguous":
                stage.process_block(blk, got[:, k * 512:(k + 1) * 512])
            elif mode == "strided":
                wide[:, :512] = blk
                stage.process_block(wide[:, :512], wide[:, 512:])
                got[:, k * 512:(k + 1) * 512] = wide[:, 512:]
            elif mode == "float64":
                stage.process_block(blk.astype(np.float64), got[:, k * 512:(k + 1) * 512])
            else:
                stage.process_block(blk, blk)
                got[:, k * 512:(k + 1) * 512] = blk
        outs.append(got)
    for got in outs[1:]:
        assert np.array_equal(got, outs[0])
