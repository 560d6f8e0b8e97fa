"""Cross-cutting building blocks: settings-driven logging, errors, security, middleware, rate limits."""
