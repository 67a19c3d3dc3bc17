"""Fault injection: the catalogue, the shared state in Redis, and the real effects."""
