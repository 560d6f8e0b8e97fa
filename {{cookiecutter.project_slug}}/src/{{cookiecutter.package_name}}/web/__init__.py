"""A small server-rendered UI (Jinja2 templates, plain HTML forms, no JavaScript) on the service's own layers."""

from .app import MOUNT_PATH, create_web_app

__all__ = ["MOUNT_PATH", "create_web_app"]
