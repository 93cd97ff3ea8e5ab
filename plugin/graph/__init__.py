"""The processing graph: the panslice stage, the chain of stages and pedalboard plugins, the
ring buffer they stream through, and chain files.

Below everything that runs audio (offline, live, ml); above formats and dsp.
"""
