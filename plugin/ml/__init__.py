"""The ML prior: Spleeter's weights (model), its mask as engine rows (prior), and the live
look-ahead stage that computes it in a worker thread (lookahead).
"""
