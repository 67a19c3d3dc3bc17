"""Data access: Tortoise models, the bounded connection pool, and the queries the services use."""
