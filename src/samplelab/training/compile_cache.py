"""JAX's persistent compilation cache: a program compiled once is reused by later processes."""

from __future__ import annotations

import os
from pathlib import Path


def enable_compilation_cache(path: str | Path | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (``$SAMPLELAB_JAX_CACHE`` or ~/.cache)."""
    import jax

    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "samplelab" / "jax"
    cache = Path(path or os.environ.get("SAMPLELAB_JAX_CACHE") or default)
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return cache
