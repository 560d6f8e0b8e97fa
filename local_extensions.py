"""Jinja extensions of the template: filters that render answers safely into any file type."""

from jinja2.environment import Environment
from jinja2.ext import Extension

# Characters that must be written as escapes inside a double-quoted string in at least one of
# JSON, TOML, YAML or Python: C0/C1 controls, DEL and the two Unicode non-characters.
_ESCAPED = {*range(0x20), *range(0x7F, 0xA0), 0xFFFE, 0xFFFF}


def quoted(value: object) -> str:
    """Render ``value`` as one double-quoted string literal.

    The result is valid, and reads back as the same text, in JSON, TOML basic strings, YAML
    double-quoted scalars and Python source, so a project name such as ``Bob's "Café" \\ 100%``
    can be written into any of them.
    """
    parts = []
    for char in str(value):
        if char in '"\\':
            parts.append("\\" + char)
        elif ord(char) in _ESCAPED:
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(char)
    return '"' + "".join(parts) + '"'


def markdown_text(value: object) -> str:
    """Render ``value`` as inline Markdown text that cannot open HTML, links or code spans."""
    text = " ".join(str(value).split())
    for char in "\\`*_[]<>&|#":
        text = text.replace(char, "\\" + char)
    return text


class LiteralFilters(Extension):
    """Registers ``quoted`` and ``markdown_text`` for cookiecutter's ``_extensions``."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        environment.filters["markdown_text"] = markdown_text
