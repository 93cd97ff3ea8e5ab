"""The ML prior: Spleeter's weights (model), its mask as engine rows (prior), and the
look-ahead stage that computes it in a chain, in a worker thread live (lookahead).
"""
