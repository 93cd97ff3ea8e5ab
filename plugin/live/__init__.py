"""Live audio: the block loop, the streams it reads and writes (sound card, JACK, paced
file) and real-time scheduling of its thread.
"""
