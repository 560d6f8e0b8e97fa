"""{{ cookiecutter.project_slug }}: the service package."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The distribution is named after the project, which the package need not be.
    __version__ = version("{{ cookiecutter.project_slug }}")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
