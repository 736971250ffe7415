"""The embedded runtime of `opsroom up`: PostgreSQL and Synapse as child processes."""
