"""Tickets: the model, deduplication, the store, the append-only audit trail, the lifecycle."""
