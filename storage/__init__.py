"""PostgreSQL access: the connection pool, numbered schema migrations and the outbox."""
