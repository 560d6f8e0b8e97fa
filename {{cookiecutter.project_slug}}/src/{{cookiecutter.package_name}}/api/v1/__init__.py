"""Version 1 of the public API. Its paths and shapes are a contract with clients."""

# Each router carries the full prefix itself (rather than getting it from include_router), so a
# route's own path is its full template: metrics and access logs label requests with it.
PREFIX = "/api/v1"
