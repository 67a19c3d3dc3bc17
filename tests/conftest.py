"""Fixtures shared by every suite. Integration fixtures live in tests/integration/conftest.py."""
