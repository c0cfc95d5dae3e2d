"""Statistics on measured sample complexities: censored quantiles, n*(ε, δ), power-law fits.

Pure functions on NumPy arrays (float64); nothing here reads the store or trains a model.
"""
