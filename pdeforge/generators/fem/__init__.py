"""Finite-element backends (optional dependencies: imported lazily by their users)."""
