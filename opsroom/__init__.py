"""opsroom: the composition root (CLI, configuration, wiring, embedded runtime)."""

__version__ = "0.1.0"
