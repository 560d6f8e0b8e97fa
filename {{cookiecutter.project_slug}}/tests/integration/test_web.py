"""The server-rendered UI over HTTP (no browser): forms, validation messages, sessions, CSRF, privacy.

The browser tests in tests/e2e drive the same pages in Chromium; these keep `make test` fast and
cover every branch of the web package.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import cast

import pytest
{%- if cookiecutter.use_sentry %}
import sentry_sdk
{%- endif %}
from fastapi import FastAPI, Response
from httpx import ASGITransport, AsyncClient
from httpx import Response as HttpResponse
from starlette.routing import Mount

from {{ cookiecutter.package_name }}.context import AppContext
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.web import MOUNT_PATH, routes
from {{ cookiecutter.package_name }}.web.session import start_session

from ..support import CLIENT_ADDRESS, PASSWORD, PUBLIC_ADDRESSES, WRONG_PASSWORD, Account, log_in
from .test_access_control import url_of

EMAIL = "grace@example.com"
TOO_SHORT = "short"


async def csrf_token(client: AsyncClient, page: str = "/ui/login") -> str:
    response = await client.get(page)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, response.text
    return match.group(1)


async def post_form(client: AsyncClient, path: str, **fields: str) -> HttpResponse:
    token = await csrf_token(client)
    return await client.post(path, data={"csrf_token": token, **fields})


async def sign_up_and_log_in(client: AsyncClient, email: str = EMAIL) -> None:
    assert (await post_form(client, "/ui/signup", email=email, password=PASSWORD)).status_code == 303
    response = await post_form(client, "/ui/login", email=email, password=PASSWORD)
    assert response.headers["location"] == "/ui/items"


async def user_id_of(client: AsyncClient, admin: Account, email: str) -> int:
    response = await client.get("/api/v1/admin/users", params={"email_prefix": email}, headers=admin.headers)
    (user,) = response.json()
    return int(user["id"])


def ui_pages(app: FastAPI) -> set[tuple[str, str]]:
    """The UI's (method, path) pairs, path parameters in braces, as its routers declare them."""
    (web,) = (route.app for route in app.routes if isinstance(route, Mount) and route.path == MOUNT_PATH)
    assert isinstance(web, FastAPI)
    # The UI publishes no document, but FastAPI can still describe its routes.
    return {(method, path) for path, methods in web.openapi()["paths"].items() for method in methods}


def address_of(path: str) -> str:
    """The address of a UI path, with a well-formed id for each path parameter."""
    return MOUNT_PATH + url_of(path)


async def create(client: AsyncClient, title: str, description: str = "") -> int:
    response = await post_form(client, "/ui/items/new", title=title, description=description)
    assert response.headers["location"] == "/ui/items?done=created"
    listing = await client.get("/ui/items")
    ids = re.findall(r'href="/ui/items/(\d+)/edit"', listing.text)
    return int(ids[-1])


async def test_pages_are_html_with_a_strict_policy_and_a_csrf_cookie(client: AsyncClient) -> None:
    response = await client.get("/ui/signup")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers.get_list("content-security-policy")
    assert len(policy) == 1  # the page's own policy replaces the API's, it is not added to it
    assert "default-src 'none'" in policy[0]
    assert "style-src 'self'" in policy[0]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("csrf=")
    # Lax: a browser sends it on a link from another site, which must not replace the token open forms carry.
    assert all(part in cookie for part in ("HttpOnly", "Path=/ui", "SameSite=lax"))
    assert '<label for="email">Email address</label>' in response.text


@pytest.mark.parametrize(("path", "media_type"), [("app.css", "text/css"), ("favicon.svg", "image/svg+xml")])
async def test_the_stylesheet_and_the_icon_are_served(client: AsyncClient, path: str, media_type: str) -> None:
    page = await client.get("/ui/login")
    assert f'"/ui/static/{path}"' in page.text  # each page names both, so a browser asks for no /favicon.ico
    response = await client.get(f"/ui/static/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


async def test_pages_are_logged_and_counted_under_their_mounted_path(
    client: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await client.get("/ui/login")
    access = next(line for line in capsys.readouterr().out.splitlines() if '"event":"request"' in line)
    assert '"route":"/ui/login"' in access
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{handler="/ui/login",method="GET",status="2xx"}' in metrics


async def test_the_start_page_sends_visitors_to_log_in_and_users_to_their_items(client: AsyncClient) -> None:
    assert (await client.get("/ui/")).headers["location"] == "/ui/login"
    await sign_up_and_log_in(client)
    assert (await client.get("/ui/")).headers["location"] == "/ui/items"


async def test_every_form_post_without_the_csrf_token_is_refused(
    client: AsyncClient, app: FastAPI, verified_admin: Account
) -> None:
    # Signed in as an admin with a confirmed address, so that every form gets past who may post it to
    # its token check. The browser has a CSRF cookie, the forged form does not know it.
    await post_form(client, "/ui/login", email=verified_admin.email, password=PASSWORD)
    forms = [path for method, path in ui_pages(app) if method == "post"]
    assert {"/logout", "/forgot-password", "/account/delete", "/admin/users/{user_id}/delete"} <= set(forms)
    for path in forms:
        for token in ({}, {"csrf_token": "forged"}):  # the field is required too
            response = await client.post(address_of(path), data=token)
            assert response.status_code == 403, path
            assert "Reload the page and try again" in response.text, path


@pytest.mark.parametrize("sent_from", ["cross-site", "same-site"])
async def test_a_form_another_site_sent_is_refused_even_with_the_right_token(
    client: AsyncClient, sent_from: str
) -> None:
    """A sibling subdomain can set this site's CSRF cookie, and so know the token it posts."""
    await sign_up_and_log_in(client)
    form = {"csrf_token": await csrf_token(client), "title": "Forged", "description": ""}

    forged = await client.post("/ui/items/new", data=form, headers={"Sec-Fetch-Site": sent_from})
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text
    assert "You have no items yet." in (await client.get("/ui/items")).text

    sent_here = await client.post("/ui/items/new", data=form, headers={"Sec-Fetch-Site": "same-origin"})
    assert sent_here.headers["location"] == "/ui/items?done=created"


async def test_sign_up_reports_each_problem_next_to_its_field(client: AsyncClient) -> None:
    response = await post_form(client, "/ui/signup", email="not-an-address", password=TOO_SHORT)
    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert 'id="password-error"' in response.text
    assert "at least 12 characters" in response.text
    assert 'aria-describedby="password-hint password-error"' in response.text
    assert 'value="not-an-address"' in response.text  # kept, not retyped
    assert f'value="{TOO_SHORT}"' not in response.text  # a password is never sent back


async def test_sign_up_refuses_a_taken_address(client: AsyncClient) -> None:
    assert (await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)).status_code == 303
    response = await post_form(client, "/ui/signup", email=EMAIL.upper(), password=PASSWORD)
    assert response.status_code == 409
    assert "already exists" in response.text


async def test_logging_in_sets_a_secure_by_default_session_cookie(client: AsyncClient) -> None:
    await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)
    notice = await client.get("/ui/login", params={"done": "signed-up"})
    assert 'role="status">Your account is ready' in notice.text
    response = await post_form(client, "/ui/login", email=f"  {EMAIL.upper()} ", password=PASSWORD)
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("session="))
    assert all(part in cookie for part in ("HttpOnly", "Path=/ui", "SameSite=lax"))
    assert "Max-Age" not in cookie  # it outlives the token, so an expired session is reported as one
    assert "Secure" not in cookie  # plain HTTP outside production
    assert "Signed in as <strong>grace@example.com</strong>" in (await client.get("/ui/items")).text


async def test_logging_in_gives_the_browser_a_new_csrf_token(client: AsyncClient) -> None:
    await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)
    known_before = await csrf_token(client)
    await client.post("/ui/login", data={"csrf_token": known_before, "email": EMAIL, "password": PASSWORD})

    assert client.cookies["csrf"] != known_before
    stale = await client.post("/ui/items/new", data={"csrf_token": known_before, "title": "Planted", "description": ""})
    assert stale.status_code == 403
    assert "You have no items yet." in (await client.get("/ui/items")).text


def test_session_cookies_are_secure_in_production(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(environment="production", allow_sqlite_in_production=True, **PUBLIC_ADDRESSES)
    response = Response()
    start_session(response, cast(AppContext, SimpleNamespace(settings=settings)), "token")
    assert "Secure" in response.headers["set-cookie"]


async def test_an_internationalised_address_logs_in_as_a_browser_sends_it(client: AsyncClient) -> None:
    """Chromium sends a type=email field with the domain in punycode; the account stores it in Unicode."""
    typed = "grace@xn--bcher-kva.example"
    assert (await post_form(client, "/ui/signup", email=typed, password=PASSWORD)).status_code == 303
    response = await post_form(client, "/ui/login", email=typed, password=PASSWORD)
    assert response.headers["location"] == "/ui/items"
    assert "Signed in as <strong>grace@bücher.example</strong>" in (await client.get("/ui/items")).text


async def test_sign_up_refuses_an_address_with_an_encoded_word(client: AsyncClient) -> None:
    """Mail programs decode "=?utf-8?q?mallory?=" in the To header: the link would reach mallory@example.com."""
    response = await post_form(client, "/ui/signup", email="=?utf-8?q?mallory?=@example.com", password=PASSWORD)
    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert "read it as an encoded word" in response.text


async def test_a_bad_login_says_so(client: AsyncClient) -> None:
    await post_form(client, "/ui/signup", email=EMAIL, password=PASSWORD)
    response = await post_form(client, "/ui/login", email=EMAIL, password=WRONG_PASSWORD)
    assert response.status_code == 401
    assert 'role="alert">Incorrect email or password' in response.text
    assert "session=" not in response.headers.get("set-cookie", "")


async def test_pages_need_a_valid_session(client: AsyncClient) -> None:
    for path in ("/ui/items", "/ui/items/new", "/ui/items/1/edit"):
        assert (await client.get(path)).headers["location"] == "/ui/login"
    client.cookies.set("session", "not-a-token", path="/ui")
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"


async def test_a_form_sent_after_the_session_ended_is_not_saved_and_the_user_is_told(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    token = client.cookies["session"]
    assert (await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})).status_code == 204

    response = await post_form(client, "/ui/items/new", title="Written while the session ended")
    assert response.headers["location"] == "/ui/login?done=not-saved"
    assert "session" not in client.cookies  # the ended session's cookie is dropped
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login"
    login_page = await client.get("/ui/login", params={"done": "not-saved"})
    assert 'role="status">Your session ended before that form was sent, so nothing was saved' in login_page.text
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).headers["location"] == "/ui/items"
    assert "You have no items yet." in (await client.get("/ui/items")).text


async def test_create_edit_and_delete_an_item(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    assert "You have no items yet." in (await client.get("/ui/items")).text
    item_id = await create(client, "Buy <milk>", "Two litres")
    listing = await client.get("/ui/items", params={"done": "created"})
    assert "Buy &lt;milk&gt;" in listing.text  # escaped
    assert 'role="status">Item created.' in listing.text

    assert 'value="Buy &lt;milk&gt;"' in (await client.get(f"/ui/items/{item_id}/edit")).text
    changed = await post_form(client, f"/ui/items/{item_id}/edit", title="Buy oat milk", description="")
    assert changed.headers["location"] == "/ui/items?done=updated"
    listing = await client.get("/ui/items")
    assert "Buy oat milk" in listing.text
    assert "Two litres" not in listing.text

    deleted = await post_form(client, f"/ui/items/{item_id}/delete")
    assert deleted.headers["location"] == "/ui/items?done=deleted"
    assert "You have no items yet." in (await client.get("/ui/items")).text


async def test_the_edit_page_gives_a_description_back_as_it_is(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    item_id = await create(client, "Lines", "\nafter an empty line")
    page = (await client.get(f"/ui/items/{item_id}/edit")).text
    (text,) = re.findall(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)
    # A browser drops one newline straight after the tag (HTML's parsing rules) and submits the rest.
    assert html.unescape(text.removeprefix("\n")) == "\nafter an empty line"


async def test_a_description_counts_line_ends_as_the_api_does(client: AsyncClient) -> None:
    """A browser sends a textarea's line ends as CRLF: 2000 characters with LF, 2020 as sent."""
    description = "\r\n".join(["x" * 99] * 20) + "\r\n"
    as_typed = description.replace("\r\n", "\n")
    assert (len(as_typed), len(description)) == (2000, 2020)
    await sign_up_and_log_in(client)
    item_id = await create(client, "Lines", description)
    headers = {"Authorization": f"Bearer {(await log_in(client, EMAIL))['access_token']}"}
    assert (await client.get(f"/api/v1/items/{item_id}", headers=headers)).json()["description"] == as_typed

    too_long = "one\rtwo\r\n" + description
    changed = await post_form(client, f"/ui/items/{item_id}/edit", title="Lines", description=too_long)
    assert changed.status_code == 422  # now over the limit, counted as the API counts
    assert "at most 2000 characters" in changed.text
    changed = await post_form(client, f"/ui/items/{item_id}/edit", title="Lines", description="one\rtwo\r\nthree")
    assert changed.headers["location"] == "/ui/items?done=updated"
    assert (await client.get(f"/api/v1/items/{item_id}", headers=headers)).json()["description"] == "one\ntwo\nthree"


def item_form_key(page: HttpResponse) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def item_titles(listing: HttpResponse) -> list[str]:
    return re.findall(r'<h2 class="item-title">([^<]*)</h2>', listing.text)


async def test_the_new_item_form_sent_twice_creates_one_item(client: AsyncClient) -> None:
    """A double click, or a resend after a dropped connection, posts the same form twice."""
    await sign_up_and_log_in(client)
    form = await client.get("/ui/items/new")
    key = item_form_key(form)
    assert item_form_key(await client.get("/ui/items/new")) != key  # each rendering has a key of its own

    for _ in range(2):
        response = await post_form(client, "/ui/items/new", title="Buy milk", idempotency_key=key)
        assert response.headers["location"] == "/ui/items?done=created"
    assert item_titles(await client.get("/ui/items")) == ["Buy milk"]


async def test_a_form_sent_again_with_another_title_asks_before_adding_a_second_item(client: AsyncClient) -> None:
    """The same rendering of the form, sent again with another title (a browser that kept the page),
    asks the user to confirm the second item."""
    await sign_up_and_log_in(client)
    key = item_form_key(await client.get("/ui/items/new"))
    assert (await post_form(client, "/ui/items/new", title="Buy milk", idempotency_key=key)).status_code == 303

    response = await post_form(client, "/ui/items/new", title="Buy bread", idempotency_key=key)
    assert response.status_code == 422
    assert routes.KEY_USED_FOR_ANOTHER_ITEM in response.text
    assert 'value="Buy bread"' in response.text
    fresh_key = item_form_key(response)
    assert fresh_key != key
    assert (await post_form(client, "/ui/items/new", title="Buy bread", idempotency_key=fresh_key)).status_code == 303
    assert item_titles(await client.get("/ui/items")) == ["Buy milk", "Buy bread"]


async def test_item_forms_explain_what_is_wrong(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    assert (await client.get("/ui/items/new")).status_code == 200
    response = await post_form(client, "/ui/items/new", title="   ", description="x")
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    item_id = await create(client, "Buy milk")
    response = await post_form(client, f"/ui/items/{item_id}/edit", title="x" * 201)
    assert response.status_code == 422
    assert "at most 200 characters" in response.text


async def test_the_error_summary_names_the_field_of_each_problem(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    response = await post_form(client, "/ui/items/new", title="", description="x" * 2001)
    assert '<a href="#title">Title: String should have at least 1 character</a>' in response.text
    assert '<a href="#description">Description (optional): String should have at most 2000' in response.text


async def test_deleting_an_item_asks_to_confirm_first(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    item_id = await create(client, "Buy milk")
    listing = await client.get("/ui/items")
    assert f'<a href="/ui/items/{item_id}/delete" aria-label="Delete Buy milk">Delete</a>' in listing.text

    confirm = await client.get(f"/ui/items/{item_id}/delete")

    assert "<h1>Delete “Buy milk”?</h1>" in confirm.text
    assert f'<form method="post" action="/ui/items/{item_id}/delete">' in confirm.text
    assert "Buy milk" in (await client.get("/ui/items")).text  # nothing deleted yet


def version_on(page: str) -> str:
    """The item version an edit or delete page sends along."""
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match, page
    return match.group(1)


async def test_saving_an_edit_page_opened_before_another_change_asks_first(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    item_id = await create(client, "Buy milk")
    opened = version_on((await client.get(f"/ui/items/{item_id}/edit")).text)
    in_another_tab = version_on((await client.get(f"/ui/items/{item_id}/edit")).text)
    await post_form(client, f"/ui/items/{item_id}/edit", title="Buy bread", version=in_another_tab)

    stale = await post_form(client, f"/ui/items/{item_id}/edit", title="Buy oat milk", version=opened)

    assert stale.status_code == 409
    assert "This item was changed since you opened this page. Save again" in stale.text
    assert 'value="Buy oat milk"' in stale.text  # what the user typed stays in the form
    assert "Buy bread" in (await client.get("/ui/items")).text
    saved = await post_form(client, f"/ui/items/{item_id}/edit", title="Buy oat milk", version=version_on(stale.text))
    assert saved.headers["location"] == "/ui/items?done=updated"
    assert "Buy oat milk" in (await client.get("/ui/items")).text


async def test_deleting_from_a_page_opened_before_a_change_asks_again(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    item_id = await create(client, "Buy milk")
    opened = version_on((await client.get(f"/ui/items/{item_id}/delete")).text)
    assert (await post_form(client, f"/ui/items/{item_id}/edit", title="Buy bread")).status_code == 303

    stale = await post_form(client, f"/ui/items/{item_id}/delete", version=opened)

    assert stale.status_code == 409
    assert "<h1>Delete “Buy bread”?</h1>" in stale.text  # the item as it is now
    assert "Buy bread" in (await client.get("/ui/items")).text
    deleted = await post_form(client, f"/ui/items/{item_id}/delete", version=version_on(stale.text))
    assert deleted.headers["location"] == "/ui/items?done=deleted"


async def test_dates_are_valid_html_time_values(client: AsyncClient) -> None:
    """HTML allows at most three digits of a second's fraction; Python prints six."""
    await sign_up_and_log_in(client)
    await create(client, "Buy milk")
    pages = [(await client.get(path)).text for path in ("/ui/items", "/ui/account/sessions")]
    times = [time for page in pages for time in re.findall(r'<time datetime="([^"]*)"', page)]
    assert len(times) == 2
    for time in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)", time), time


async def test_the_list_is_paged(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    for number in range(21):
        await post_form(client, "/ui/items/new", title=f"item {number}")
    first = await client.get("/ui/items")
    assert 'rel="next"' in first.text
    assert "item 20" not in first.text
    second = await client.get("/ui/items", params={"page": 2})
    assert "item 20" in second.text
    assert 'rel="prev"' in second.text


async def test_other_users_items_do_not_exist(client: AsyncClient) -> None:
    await sign_up_and_log_in(client, "first@example.com")
    item_id = await create(client, "First user's secret")
    await post_form(client, "/ui/logout")
    await sign_up_and_log_in(client, "second@example.com")
    assert "First user" not in (await client.get("/ui/items")).text
    for response in (
        await client.get(f"/ui/items/{item_id}/edit"),
        await post_form(client, f"/ui/items/{item_id}/edit", title="mine now"),
        await client.get(f"/ui/items/{item_id}/delete"),
        await post_form(client, f"/ui/items/{item_id}/delete"),
    ):
        assert response.status_code == 404
        assert "belongs to someone else" in response.text


async def test_logging_out_ends_the_session(client: AsyncClient) -> None:
    await sign_up_and_log_in(client)
    token = client.cookies["session"]
    response = await post_form(client, "/ui/logout")
    assert response.headers["location"] == "/ui/login?done=logged-out"
    assert 'session=""' in response.headers["set-cookie"]
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login"
    # The token is revoked, not only forgotten: a copy of the cookie no longer works either.
    client.cookies.set("session", token, path="/ui")
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"
    assert (await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_only_admins_see_the_users_page(client: AsyncClient, admin: Account) -> None:
    assert (await client.get("/ui/admin/users")).headers["location"] == "/ui/login"
    await sign_up_and_log_in(client)
    assert "/ui/admin/users" not in (await client.get("/ui/items")).text  # no link for a member
    member_id = await user_id_of(client, admin, EMAIL)
    for response in (
        await client.get("/ui/admin/users"),
        await post_form(client, f"/ui/admin/users/{member_id}/deactivate"),
        await client.get(f"/ui/admin/users/{member_id}/delete"),
        await post_form(client, f"/ui/admin/users/{member_id}/delete"),
    ):
        assert response.status_code == 403
        assert "This page is for administrators only." in response.text
    assert (await client.get("/ui/items")).status_code == 200  # still signed in, still active


async def test_an_admin_deactivates_a_member_whose_session_ends_at_once(client: AsyncClient, admin: Account) -> None:
    await sign_up_and_log_in(client)
    member_token = client.cookies["session"]
    member_id = await user_id_of(client, admin, EMAIL)
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    page = await client.get("/ui/admin/users")
    assert '<a href="/ui/admin/users">Users</a>' in page.text
    assert '<th scope="row">grace@example.com</th>\n      <td>member</td>\n      <td>Active</td>' in page.text
    assert '<th scope="row">root@example.com</th>\n      <td>admin</td>' in page.text

    forged = await client.post(f"/ui/admin/users/{member_id}/deactivate", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    response = await post_form(client, f"/ui/admin/users/{member_id}/deactivate")
    assert response.headers["location"] == "/ui/admin/users?done=deactivated"
    page = await client.get("/ui/admin/users", params={"done": "deactivated"})
    assert 'role="status">Account deactivated' in page.text
    assert f'aria-label="Reactivate {EMAIL}"' in page.text
    # The same service as the API: the change is in the audit log.
    events = await client.get(
        "/api/v1/admin/audit-events", params={"action": "admin.deactivate"}, headers=admin.headers
    )
    assert [event["target_id"] for event in events.json()] == [str(member_id)]

    client.cookies.set("session", member_token, path="/ui")
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"
    failed = await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)
    assert failed.status_code == 401

    client.cookies.delete("session")  # the copy set above would shadow the next login's cookie
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    response = await post_form(client, f"/ui/admin/users/{member_id}/reactivate")
    assert response.headers["location"] == "/ui/admin/users?done=reactivated"
    await post_form(client, "/ui/logout")
    assert (await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)).status_code == 303


async def test_an_admin_deletes_an_account_after_confirming(client: AsyncClient, admin: Account) -> None:
    await sign_up_and_log_in(client)
    member_token = client.cookies["session"]
    member_id = await user_id_of(client, admin, EMAIL)
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    page = await client.get("/ui/admin/users")
    assert f'href="/ui/admin/users/{member_id}/delete" aria-label="Delete {EMAIL}"' in page.text

    confirm = await client.get(f"/ui/admin/users/{member_id}/delete")
    assert confirm.status_code == 200
    assert f"<h1>Delete {EMAIL}?</h1>" in confirm.text
    forged = await client.post(f"/ui/admin/users/{member_id}/delete", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    response = await post_form(client, f"/ui/admin/users/{member_id}/delete")

    assert response.headers["location"] == "/ui/admin/users?done=user-deleted"
    page = await client.get("/ui/admin/users", params={"done": "user-deleted"})
    assert 'role="status">Account deleted' in page.text
    assert EMAIL not in page.text
    assert (await client.get(f"/ui/admin/users/{member_id}/delete")).status_code == 404
    client.cookies.set("session", member_token, path="/ui")
    assert (await client.get("/ui/items")).headers["location"] == "/ui/login?done=session-expired"


async def test_the_last_admin_cannot_delete_themselves(client: AsyncClient, admin: Account) -> None:
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    admin_id = await user_id_of(client, admin, admin.email)
    response = await post_form(client, f"/ui/admin/users/{admin_id}/delete")
    assert response.status_code == 409
    assert 'role="alert">The last active admin cannot be demoted, deactivated or deleted' in response.text


async def test_admins_search_and_page_through_the_accounts(client: AsyncClient, admin: Account) -> None:
    for number in range(21):
        response = await client.post(
            "/api/v1/auth/register", json={"email": f"user{number}@example.com", "password": PASSWORD}
        )
        assert response.status_code == 201
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    first = await client.get("/ui/admin/users", params={"email": " USER "})
    assert "root@example.com" not in first.text
    assert "user19@example.com" in first.text
    assert 'href="/ui/admin/users?email=USER&amp;page=2" rel="next"' in first.text  # the search is kept
    second = await client.get("/ui/admin/users", params={"email": "USER", "page": 2})
    assert "user20@example.com" in second.text
    assert "user19@example.com" not in second.text
    assert "No account matches." in (await client.get("/ui/admin/users", params={"email": "nobody"})).text
    # PostgreSQL's text cannot hold NUL: refused as the API refuses it, never a 500.
    assert (await client.get("/ui/admin/users", params={"email": "a\x00"})).status_code == 404


async def test_the_last_admin_cannot_deactivate_themselves(client: AsyncClient, admin: Account) -> None:
    await post_form(client, "/ui/login", email=admin.email, password=PASSWORD)
    admin_id = await user_id_of(client, admin, admin.email)
    response = await post_form(client, f"/ui/admin/users/{admin_id}/deactivate")
    assert response.status_code == 409
    assert 'role="alert">The last active admin cannot be demoted, deactivated or deleted' in response.text
    assert (await client.get("/ui/admin/users", params={"page": 1})).status_code == 200  # still signed in


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/nowhere", 404),
        ("/ui/items/abc/edit", 404),
        ("/ui/items?page=0", 404),
        # Larger than any id or row offset the database can store: refused like the API does, never a 500.
        (f"/ui/items/{2**70}/edit", 404),
        (f"/ui/items?page={2**70}", 404),
    ],
)
async def test_bad_addresses_get_an_html_page(client: AsyncClient, path: str, status: int) -> None:
    await sign_up_and_log_in(client)
    response = await client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


async def test_other_http_errors_get_an_html_page(client: AsyncClient) -> None:
    response = await client.put("/ui/login")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "<h1>Method Not Allowed</h1>" in response.text
    # A mount has no routes to name its methods: the static files' own Allow is kept.
    static = await client.post("/ui/static/app.css")
    assert static.status_code == 405
    assert static.headers["allow"] == "GET, HEAD"


async def test_a_crash_gets_the_error_page_and_is_logged_and_reported_once(
    client: AsyncClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> Response:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(routes, "render", crash)  # the sign-up page's: error pages render through rendering.render
{%- if cookiecutter.use_sentry %}
    reported: list[BaseException] = []
    monkeypatch.setattr(sentry_sdk, "capture_exception", reported.append)
{%- endif %}
    capsys.readouterr()
    # ASGITransport raises an error that escapes the service (the server would log it a second time).
    response = await client.get("/ui/signup", headers={"X-Request-ID": "crash-ui-1"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Internal Server Error</h1>" in response.text
    assert "secret internals" not in response.text
    assert len(response.headers.get_list("content-security-policy")) == 1
    assert response.headers["x-content-type-options"] == "nosniff"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logged = [(line["event"], line.get("status"), line.get("request_id")) for line in lines]
    assert logged == [("request", 500, "crash-ui-1"), ("unhandled_error", None, "crash-ui-1")]
{%- if cookiecutter.use_sentry %}
    assert [str(error) for error in reported] == ["secret internals"]
{%- endif %}


async def test_a_database_that_cannot_be_reached_gets_a_try_again_page(
    settings_factory: Callable[..., Settings],
) -> None:
    app = create_app(settings_factory(database_url="postgresql+asyncpg://app@127.0.0.1:1/app"))  # nothing on port 1
    transport = ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await post_form(client, "/ui/login", email=EMAIL, password=PASSWORD)
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert "Please try again in a moment." in response.text
