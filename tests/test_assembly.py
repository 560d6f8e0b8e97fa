"""The assembly renders a file once per distinct value of the answers it reads: those must be all of them."""

from __future__ import annotations

import pytest

from .assembly import answers_read, renderer


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("plain text", set()),
        ("{{ cookiecutter.use_celery }} {% if cookiecutter['database'] %}x{% endif %}", {"use_celery", "database"}),
        ("{{ cookiecutter | tojson }}", None),
        ("{% set answers = cookiecutter %}{{ answers.use_celery }}", None),
        ("{{ cookiecutter.get('system') }}", None),
        ("{{ cookiecutter[name] }}", None),
        ("{{ _cookiecutter.database }}", None),
        ("{% include 'other.txt' %}", None),
        ("{% from 'macros.j2' import field %}", None),
    ],
)
def test_answers_read_are_found_or_unknown(source: str, reads: set[str] | None) -> None:
    found = answers_read(renderer().env, source)

    assert found == (None if reads is None else frozenset(reads))


def test_copied_files_are_verbatim_and_rendered_files_know_their_answers() -> None:
    files = renderer().files

    assert next(file for file in files if file.source == "template-manifest.json").verbatim
    assert next(file for file in files if file.source == "pyproject.toml").reads >= {"use_celery", "python_version"}
