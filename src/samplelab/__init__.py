"""samplelab: measure how many examples a neural architecture needs to learn a task."""

__version__ = "0.1.0"
