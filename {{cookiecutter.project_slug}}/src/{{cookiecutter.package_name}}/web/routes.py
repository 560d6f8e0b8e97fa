"""The pages: sign up, log in (with the code step for two-factor users), log out, and the signed-in
user's items (list, create, edit, and delete after a page that asks to confirm).

Every form post checks the CSRF token first, then works through the same services and
repositories as the API, and answers with a redirect (success) or the form again with messages.
"""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Depends, Form, Query, Request
from pydantic import AfterValidator, ValidationError
from starlette.responses import Response

from ..api.deps import Auth, Context, ItemId, Items, Links, Session
from ..api.v1.schemas import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    ItemCreate,
    ItemUpdate,
    Registration,
    TwoFactorCode,
    login_email,
)
from ..context import AppContext
from ..core.exceptions import (
    AuthenticationError,
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidCredentialsError,
    RateLimitedError,
    VersionMismatchError,
)
from ..db.models import MAX_ID
from ..db.repositories import UserRepository
from ..services.auth import IssuedTokens, SecondFactorRequired
from .rendering import field_errors, redirect, render
from .session import (
    SessionPrincipal,
    SignedInUser,
    check_csrf,
    end_login_step,
    end_session,
    login_step_token,
    session_principal,
    start_login_step,
    start_session,
)

PAGE_SIZE = 20
MAX_PAGE = MAX_ID // PAGE_SIZE  # a later page would need a row offset beyond what the database stores

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]

# Every page knows who is signed in (the navigation shows it).
router = APIRouter(dependencies=[Depends(session_principal)])
# Every field defaults to empty: a missing field is then a validation message (or a failed CSRF check), not a crash.
FormText = Annotated[str, Form()]


def _lf_line_ends(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# HTML form encoding sends a textarea's line ends as CRLF: as LF, a description counts the length
# the API counts, and reads back through the API as it was typed.
FormTextarea = Annotated[str, Form(), AfterValidator(_lf_line_ends)]


@router.get("/")
async def home(principal: SessionPrincipal) -> Response:
    return redirect("/items" if principal is not None else "/login")


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    return render(request, "signup.html", {"email": ""})


@router.post("/signup")
async def signup(
    request: Request, links: Links, email: FormText = "", password: FormText = "", csrf_token: FormText = ""
) -> Response:
    """As the API's registration: the address gets a verification link, within the same e-mail budget."""
    check_csrf(request, csrf_token)
    try:
        registration = Registration(email=email.strip(), password=password)
        await links.register(registration.email, registration.password)
    except ValidationError as error:
        return render(request, "signup.html", {"email": email, "errors": field_errors(error)}, 422)
    except ConflictError as error:
        return render(request, "signup.html", {"email": email, "errors": {"email": error.message}}, 409)
    except RateLimitedError as error:
        return render(request, "signup.html", {"email": email, "errors": {"email": error.message}}, 429)
    return redirect("/login", done="signed-up")


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"email": ""})


@router.post("/login")
async def login(
    request: Request,
    context: Context,
    auth: Auth,
    email: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    email = login_email(email)
    try:
        outcome = await auth.login(email, password, refreshable=False)
    except AuthenticationError as error:
        return render(request, "login.html", {"email": email, "error": error.message}, 401)
    except RateLimitedError as error:
        return render(request, "login.html", {"email": email, "error": error.message}, 429)
    if isinstance(outcome, SecondFactorRequired):
        response = redirect("/login/code")
        start_login_step(response, context, outcome.mfa_token)
        return response
    return signed_in(context, outcome)


@router.get("/login/code")
async def login_code_page(request: Request) -> Response:
    if not login_step_token(request):  # expired, or no password step: start from the beginning
        return redirect("/login")
    return render(request, "login_code.html")


@router.post("/login/code")
async def complete_login(
    request: Request, context: Context, auth: Auth, code: FormText = "", csrf_token: FormText = ""
) -> Response:
    """The second step: wrong codes count toward the lockout, as in the API."""
    check_csrf(request, csrf_token)
    try:
        body = TwoFactorCode(code=code)
        tokens = await auth.complete_login(login_step_token(request), body.code, refreshable=False)
    except ValidationError as error:
        return render(request, "login_code.html", {"errors": field_errors(error)}, 422)
    except InvalidCredentialsError as error:  # a wrong code: the step stays open for another try
        return render(request, "login_code.html", {"errors": {"code": error.message}}, 401)
    except RateLimitedError as error:
        return render(request, "login_code.html", {"errors": {"code": error.message}}, 429)
    except AuthenticationError as error:  # the step expired or was used: back to the password
        response = render(request, "login.html", {"email": "", "error": error.message}, 401)
        end_login_step(response, context)
        return response
    response = signed_in(context, tokens)
    end_login_step(response, context)
    return response


def signed_in(context: AppContext, tokens: IssuedTokens) -> Response:
    response = redirect("/items")
    start_session(response, context, tokens.access_token)
    return response


@router.post("/logout")
async def logout(
    request: Request, context: Context, auth: Auth, principal: SessionPrincipal, csrf_token: FormText = ""
) -> Response:
    check_csrf(request, csrf_token)
    if principal is not None:
        await auth.logout(principal)  # as the API's logout: the token stops working everywhere
    response = redirect("/login", done="logged-out")
    end_session(response, context)
    return response


@router.get("/items")
async def items_page(request: Request, user: SignedInUser, db: Session, items: Items, page: PageNumber = 1) -> Response:
    user_id = user.user_id
    account = await UserRepository(db).get(user_id)
    # One row more than a page tells whether a next page exists.
    rows = await items.list(user_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    values = {
        "email": account.email,
        "email_verified": account.email_verified_at is not None,
        "items": rows[:PAGE_SIZE],
        "page": page,
        "has_next": len(rows) > PAGE_SIZE,
    }
    return render(request, "items.html", values)


# Each rendering of the new-item form carries a key of its own, so the form sent twice (a double
# click, a resend after a dropped connection) creates one item, as a retry with Idempotency-Key does.
FormIdempotencyKey = Annotated[
    str | None, Form(min_length=1, max_length=IDEMPOTENCY_KEY_MAX_LENGTH, pattern=IDEMPOTENCY_KEY_PATTERN)
]
KEY_USED_FOR_ANOTHER_ITEM = (
    "This form already created an item with another title or description. Press Create again to add this one too."
)


def _new_item_form(
    request: Request, title: str = "", description: str = "", errors: dict[str, str] | None = None
) -> Response:
    values = {"item_id": None, "title": title, "description": description, "idempotency_key": uuid4().hex}
    return render(request, "item_form.html", {**values, "errors": errors}, 422 if errors else 200)


@router.get("/items/new")
async def new_item_page(request: Request, _: SignedInUser) -> Response:
    return _new_item_form(request)


@router.post("/items/new")
async def create_item(
    request: Request,
    user: SignedInUser,
    items: Items,
    csrf_token: FormText = "",
    title: FormText = "",
    description: FormTextarea = "",
    idempotency_key: FormIdempotencyKey = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        body = ItemCreate(title=title, description=description or None)
    except ValidationError as error:
        return _new_item_form(request, title, description, field_errors(error))
    if idempotency_key is None:
        await items.create(user.user_id, body.title, body.description)
    else:
        try:
            await items.create_once(user.user_id, body.title, body.description, idempotency_key)
        except IdempotencyKeyReusedError:  # the form sent again after the user changed it
            return _new_item_form(request, title, description, {"title": KEY_USED_FOR_ANOTHER_ITEM})
    return redirect("/items", done="created")


# The edit and delete pages carry the version of the item they show, so that saving or deleting
# does not silently undo a change made meanwhile (in another tab, or through the API).
FormVersion = Annotated[int | None, Form(ge=1, le=MAX_ID)]
CHANGED_SINCE_OPENED = (
    "This item was changed since you opened this page. Save again to replace those changes with yours."
)


@router.get("/items/{item_id:int}/edit")
async def edit_item_page(request: Request, user: SignedInUser, items: Items, item_id: ItemId) -> Response:
    item = await items.get(user.user_id, item_id)
    values = {"item_id": item.id, "title": item.title, "description": item.description or "", "version": item.version}
    return render(request, "item_form.html", values)


@router.post("/items/{item_id:int}/edit")
async def update_item(
    request: Request,
    user: SignedInUser,
    items: Items,
    item_id: ItemId,
    csrf_token: FormText = "",
    title: FormText = "",
    description: FormTextarea = "",
    version: FormVersion = None,
) -> Response:
    check_csrf(request, csrf_token)
    user_id = user.user_id
    values = {"item_id": item_id, "title": title, "description": description, "version": version}
    try:
        changes = ItemUpdate(title=title, description=description or None)
    except ValidationError as error:
        await items.get(user_id, item_id)  # another user's item is not found, whatever the form says
        return render(request, "item_form.html", {**values, "errors": field_errors(error)}, 422)
    try:
        await items.update(user_id, item_id, changes.model_dump(), version=version)
    except VersionMismatchError:
        # The form again with what the user typed, now against the current version.
        current = await items.get(user_id, item_id)
        values |= {"version": current.version, "errors": {"title": CHANGED_SINCE_OPENED}}
        return render(request, "item_form.html", values, 409)
    return redirect("/items", done="updated")


@router.get("/items/{item_id:int}/delete")
async def confirm_item_deletion(request: Request, user: SignedInUser, items: Items, item_id: ItemId) -> Response:
    """Deletion cannot be undone, so the list's link leads here first."""
    item = await items.get(user.user_id, item_id)
    return render(request, "item_delete.html", {"item_id": item.id, "title": item.title, "version": item.version})


@router.post("/items/{item_id:int}/delete")
async def delete_item(
    request: Request,
    user: SignedInUser,
    items: Items,
    item_id: ItemId,
    csrf_token: FormText = "",
    version: FormVersion = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        await items.delete(user.user_id, item_id, version=version)
    except VersionMismatchError:
        # Asked again, showing the item as it is now.
        item = await items.get(user.user_id, item_id)
        values = {"item_id": item.id, "title": item.title, "version": item.version, "changed": True}
        return render(request, "item_delete.html", values, 409)
    return redirect("/items", done="deleted")
