"""Data: the synthetic audio-visual instrument corpus, benchmark sets and training datasets."""
