"""Use cases that span several repositories and core services."""
