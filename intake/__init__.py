"""Gateways that turn outside input into tickets: webhooks, the REST API, forms, traps, mail."""
