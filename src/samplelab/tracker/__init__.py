"""Stored runs to the trackers researchers already use (MLflow: :mod:`samplelab.tracker.mlflow`)."""
