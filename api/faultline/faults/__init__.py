"""Fault injection: the catalogue (one module per fault in `kinds`), the shared state in Redis,
and the runtime that acts through the seams of faultline.hooks."""
