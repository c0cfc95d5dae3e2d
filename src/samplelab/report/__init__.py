"""Figures and reports drawn from stored runs and analysis documents (matplotlib lives only here)."""
