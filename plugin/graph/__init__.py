"""The processing graph: the node contract (node), the panslice stage, the chain of stages and
pedalboard plugins, the ring buffer they stream through, the aligned offline render loop
(render) and chain files.

Below everything that runs audio (offline, live, ml); above formats and dsp.
"""
