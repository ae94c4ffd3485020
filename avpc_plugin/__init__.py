"""avpc-plugin: visually guided instrument stem separation with Audio-Visual Predictive Coding."""

__version__ = "0.1.0"
