"""Shared test helpers: real PostgreSQL databases, a real Synapse, real Matrix clients."""
