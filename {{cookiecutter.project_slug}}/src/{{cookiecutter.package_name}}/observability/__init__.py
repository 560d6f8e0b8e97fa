"""What the service tells operators about itself: metrics and the OpenTelemetry switch (logs live in core.logging)."""
