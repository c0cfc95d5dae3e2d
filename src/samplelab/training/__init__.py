"""The one training loop and what serves it: optimizers, probes, results, the compilation cache, retraining."""
