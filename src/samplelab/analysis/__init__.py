"""Stored runs → cells → fits → claims → the analysis document; model selection, outcomes, export."""
