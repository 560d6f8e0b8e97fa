"""include_flat gives the app the same routes, document and dependency overrides as include_router."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from httpx import ASGITransport, AsyncClient
from starlette.responses import PlainTextResponse

from {{ cookiecutter.package_name }}.api.flat_routes import include_flat
from {{ cookiecutter.package_name }}.main import ROUTERS, create_app
from {{ cookiecutter.package_name }}.settings import Settings


def test_the_service_documents_the_same_api_as_with_include_router(settings: Settings) -> None:
    flat = create_app(settings)
    nested = FastAPI(
        title=flat.title, description=flat.description, version=flat.version, openapi_tags=flat.openapi_tags
    )
    for router in ROUTERS:
        nested.include_router(router)
    assert flat.openapi() == nested.openapi()


def test_the_service_routes_are_one_flat_table(settings: Settings) -> None:
    paths = [getattr(route, "path", None) for route in create_app(settings).router.routes]
    assert None not in paths  # an included router would be a node without a path
    assert "/api/v1/items/{item_id:int}" in paths


def real_source() -> str:
    return "real"


async def test_dependency_overrides_reach_flat_routes() -> None:
    router = APIRouter(prefix="/things", tags=["things"])

    @router.get("/source")
    async def source(value: Annotated[str, Depends(real_source)]) -> dict[str, str]:
        return {"value": value}

    app = FastAPI()
    include_flat(app, router)
    app.dependency_overrides[real_source] = lambda: "override"
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/things/source")).json() == {"value": "override"}


def test_routes_other_than_path_operations_are_refused() -> None:
    router = APIRouter()
    router.add_route("/plain", lambda request: PlainTextResponse("plain"))
    with pytest.raises(TypeError, match="include_flat handles path operations only"):
        include_flat(FastAPI(), router)
