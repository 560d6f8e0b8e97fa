"""Backstage's entity schemas (vendored in tests/schemas/backstage/) applied to baked files, offline."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from .checks import yaml_documents

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "backstage"
# The schema for each kind the template writes; they refer to the shared ones by their $id.
KIND_SCHEMAS = {
    "Component": "Component.v1alpha1.schema.json",
    "API": "API.v1alpha1.schema.json",
    "Template": "Template.v1beta3.schema.json",
}


@cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMA_DIR.glob("*.schema.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource(contents=contents, specification=DRAFT7)))
    registry: Registry = Registry().with_resources(resources)
    return registry


@cache
def validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / KIND_SCHEMAS[kind]).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, registry=_registry())


def resolve_placeholders(value: Any, base: Path) -> Any:
    """Substitute ``$text`` placeholders with the referenced file's text, as the catalog does
    before it validates (so a placeholder to a missing file is a finding too)."""
    if isinstance(value, dict):
        if set(value) == {"$text"}:
            return (base / value["$text"]).read_text(encoding="utf-8")
        return {key: resolve_placeholders(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(item, base) for item in value]
    return value


def entity_problems(path: Path) -> list[str]:
    """Every schema violation of every entity in the YAML file at ``path``."""
    problems = []
    for index, entity in enumerate(yaml_documents(path.read_text(encoding="utf-8"))):
        kind = entity.get("kind") if isinstance(entity, dict) else None
        if kind not in KIND_SCHEMAS:
            problems.append(f"{path.name} document {index}: kind {kind!r} has no vendored schema")
            continue
        try:
            resolved = resolve_placeholders(entity, path.parent)
        except OSError as error:
            problems.append(f"{path.name} {kind}: placeholder: {error}")
            continue
        problems += [
            f"{path.name} {kind} at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator(kind).iter_errors(resolved)
        ]
    return problems
