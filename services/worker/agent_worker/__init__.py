"""The worker: claims task steps from the Redis stream, runs them, records them in PostgreSQL."""
