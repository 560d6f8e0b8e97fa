"""The Backstage checks themselves: they pass a good entity and report a broken one."""

from __future__ import annotations

from pathlib import Path

from .backstage import entity_problems

COMPONENT = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-service
spec:
  type: service
  lifecycle: experimental
  owner: team-orders
"""
API = """\
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: orders-api
spec:
  type: openapi
  lifecycle: experimental
  owner: team-orders
  definition:
    $text: ./openapi.json
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog-info.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_entities_with_a_resolved_placeholder_pass(tmp_path: Path) -> None:
    (tmp_path / "openapi.json").write_text('{"openapi": "3.1.0"}', encoding="utf-8")
    assert entity_problems(write(tmp_path, f"{COMPONENT}---\n{API}")) == []


def test_a_missing_owner_and_a_non_string_annotation_are_reported(tmp_path: Path) -> None:
    broken = COMPONENT.replace("  owner: team-orders\n", "").replace(
        "metadata:\n", "metadata:\n  annotations: {a: 1}\n"
    )
    problems = entity_problems(write(tmp_path, broken))
    assert any("'owner' is a required property" in problem for problem in problems), problems
    assert any("1 is not of type 'string'" in problem for problem in problems), problems


def test_a_placeholder_to_a_missing_file_is_reported(tmp_path: Path) -> None:
    problems = entity_problems(write(tmp_path, API))
    assert len(problems) == 1
    assert "placeholder" in problems[0]


def test_an_unknown_kind_is_reported(tmp_path: Path) -> None:
    assert "kind 'Widget' has no vendored schema" in entity_problems(write(tmp_path, "kind: Widget\n"))[0]
