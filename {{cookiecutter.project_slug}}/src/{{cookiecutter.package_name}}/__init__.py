"""{{ cookiecutter.project_slug }}: the service package."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version(__name__)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
