"""What the service tells operators about itself: metrics{% if cookiecutter.use_sentry %}, errors{% endif %}{% if cookiecutter.use_opentelemetry %}, traces{% endif %} (logs live in core.logging)."""
