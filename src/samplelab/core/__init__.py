"""The lowest layer: user-facing errors, registries and the package version."""
