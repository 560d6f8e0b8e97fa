"""The OpenAPI document as a committed file: the developer portal and API clients read it from the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI

# Relative to the project root; catalog-info.yaml points the portal's API entity here.
DOCUMENT_PATH = Path("docs/openapi.json")


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI schema as plain JSON data (what the committed file holds)."""
    document: dict[str, Any] = json.loads(json.dumps(app.openapi()))
    return document


def render(app: FastAPI) -> str:
    """The file's text: sorted keys and a fixed indent, so a re-export only differs where the API did."""
    return json.dumps(openapi_document(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
