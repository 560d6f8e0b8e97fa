"""Persistence: the engine and sessions, the ORM models and the repositories that query them."""
