"""Jinja extensions of the template: filters that render answers safely into any file type, and a
cache of compiled templates shared by consecutive bakes."""

import contextlib
import hashlib
import marshal
import os
import pickle  # nosec B403 - only pickles: builds the checksum header Jinja writes
from pathlib import Path
from types import CodeType
from typing import Any

import cookiecutter
import jinja2
from jinja2.bccache import Bucket, BytecodeCache, FileSystemBytecodeCache, bc_magic
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


class _SafeBytecodeCache(FileSystemBytecodeCache):
    """Jinja's file cache, except that an unreadable or unwritable entry only costs a recompile."""

    def load_bytecode(self, bucket: Bucket) -> None:
        # Jinja's own reader hands marshal the open file, which marshal then reads a few bytes per
        # call. Reading the entry at once and unmarshalling bytes is three times faster (about
        # 10 ms per bake). The header is compared as bytes, so nothing from the file is unpickled.
        header = bc_magic + pickle.dumps(bucket.checksum, 2)  # Jinja's entry: header, marshalled code
        try:
            entry = Path(self._get_cache_filename(bucket)).read_bytes()
            if entry.startswith(header):
                # Same trust as Jinja's reader: a per-user folder that Jinja checks for owner and mode.
                bucket.code = marshal.loads(memoryview(entry)[len(header) :])  # noqa: S302  # nosec B302
        except (OSError, EOFError, ValueError, TypeError):  # e.g. a truncated entry
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        # A cache that cannot be written is a miss next time, not a failed bake.
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _compile_settings_fingerprint() -> str:
    """What shapes compiled code besides a template's own source (which Jinja checks itself):
    the Jinja and cookiecutter versions, the extensions and environment options in
    cookiecutter.json, and this module."""
    digest = hashlib.sha256(f"{jinja2.__version__} {cookiecutter.__version__}".encode())
    here = Path(__file__).resolve()
    for path in (here.parent / "cookiecutter.json", here):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_string_templates(environment: Environment, cache: BytecodeCache) -> None:
    """Route ``from_string`` compiles through ``cache`` as well.

    Jinja caches only templates loaded by name, but cookiecutter compiles every path, answer
    default and hook with ``from_string``: about 170 compiles and 0.05 s per bake. Such a source
    is its own cache key; templates with a name still go through the loader's cache alone.
    Absolute paths are left out: cookiecutter renders folder names joined to the output folder,
    so those sources differ in every bake and would only fill the cache. Answers are kept (each
    new one adds an entry of a few hundred bytes): most of the ~80 plain-text sources of a bake
    are the template's own defaults and prompts, and a cache hit costs a quarter of a compile.
    """
    compile_source = environment.compile

    def compile_through_cache(source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if name is not None or args or kwargs or not isinstance(source, str) or os.path.isabs(source):
            return compile_source(source, name, *args, **kwargs)
        bucket = cache.get_bucket(environment, source, None, source)
        if not isinstance(bucket.code, CodeType):
            bucket.code = compile_source(source)
            cache.set_bucket(bucket)
        return bucket.code

    environment.compile = compile_through_cache


class CompiledTemplateCache(Extension):
    """Keeps compiled templates in Jinja's per-user cache folder, so that a bake following another
    (a CI matrix, the fast test tier, a cruft update) skips compiling them again: about 0.2 s of a
    0.6 s bake. Entries are keyed by source checksum and by the settings fingerprint above."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if environment.bytecode_cache is None:
            try:
                pattern = f"fastapi-service-template-{_compile_settings_fingerprint()}-%s.cache"
                environment.bytecode_cache = _SafeBytecodeCache(pattern=pattern)
            except (OSError, RuntimeError):  # no safe per-user folder (Jinja checks owner and mode)
                return
            _cache_string_templates(environment, environment.bytecode_cache)
