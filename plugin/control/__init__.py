"""Steering a running chain: the control bridge (changes into the audio loop), the OSC
server, and the session that ties them to automation recording.
"""
