"""What the service tells operators about itself: metrics (logs live in core.logging)."""
