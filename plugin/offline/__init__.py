"""Offline work on files: bounce (one aligned render), batch (many files), analyze, demo.
"""
