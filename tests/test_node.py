"""The graph-node contract: blocks longer than the prepared maximum, and the optional members."""

import numpy as np
import pedalboard as pb
import pytest

from conftest import noise
from panslice.plugin.graph.chain import Chain
from panslice.plugin.graph.node import NodeBase
from panslice.plugin.graph.stage import Stage

SR = 44100
MAX = 256
LONG = 3 * MAX + 5
SMALL = {"fft_size": 512, "width": 0.3}   # latency 511: two long blocks show output


def split_stage():
    return Stage(SMALL, target=Chain([pb.Gain(gain_db=-3.0)]), rest=Chain([]))


def in_blocks(node, x, size, inplace=False):
    out = x.copy() if inplace else np.zeros_like(x)
    for pos in range(0, x.shape[1], size):
        o = out[:, pos:pos + size]
        node.process_block(o if inplace else x[:, pos:pos + size], o)
    return out


@pytest.mark.parametrize("make", [lambda: Stage(SMALL), split_stage,
                                  lambda: Chain([pb.Gain(gain_db=2.0), Stage(SMALL)])],
                         ids=["stage", "split stage", "chain"])
def test_a_block_longer_than_max_block_equals_max_block_pieces(make):
    x = noise(2 * LONG, seed=4)
    node = make().prepare(SR, MAX)
    long = in_blocks(node, x, LONG)                     # two blocks of 3 * max_block + 5
    node.reset()
    pieces = in_blocks(node, x, MAX)
    assert np.abs(pieces).max() > 0.01
    assert np.array_equal(long, pieces)
    node.reset()                                        # out may be x itself: in place too
    assert np.array_equal(in_blocks(node, x, LONG, inplace=True), pieces)


def test_every_node_answers_the_optional_questions():
    chain = Chain([pb.Gain(gain_db=1.0), split_stage()]).prepare(SR, MAX)
    for node in [chain, *chain.stages, *chain._nodes]:
        assert isinstance(node, NodeBase)
        assert node.missed is None and node.error is None
        assert node.describe() == [] and node.report() == []
    chain.close()
    chain.close()                           # idempotent
