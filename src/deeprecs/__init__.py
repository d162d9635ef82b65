"""deeprecs: deep-learning recommenders from interaction logs."""

__version__ = "0.1.0"
