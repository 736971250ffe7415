"""Mail out: the SMTP sender and the outbox handlers that send mail."""
