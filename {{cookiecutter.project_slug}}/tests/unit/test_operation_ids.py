"""OpenAPI operation ids are a contract: a generated client names its methods after them."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

# Renaming one renames a method in every generated client: change it on purpose only.
OPERATION_IDS = {
    ("post", "/api/v1/auth/register"): "auth-register",
    ("post", "/api/v1/auth/token"): "auth-issue_tokens",
    ("post", "/api/v1/auth/refresh"): "auth-refresh_tokens",
    ("post", "/api/v1/auth/mfa"): "auth-complete_login",
    ("post", "/api/v1/auth/logout"): "auth-logout",
    ("post", "/api/v1/auth/password-reset"): "auth-request_password_reset",
    ("post", "/api/v1/auth/password-reset/confirm"): "auth-reset_password",
    ("post", "/api/v1/auth/verify-email"): "auth-verify_email",
    ("post", "/api/v1/auth/verify-email/resend"): "auth-resend_verification",
    ("post", "/api/v1/auth/email-change/confirm"): "auth-confirm_email_change",
    ("get", "/api/v1/users/me"): "users-read_me",
    ("post", "/api/v1/users/me/password"): "users-change_password",
    ("post", "/api/v1/users/me/email"): "users-change_email",
    ("get", "/api/v1/users/me/sessions"): "users-list_sessions",
    ("delete", "/api/v1/users/me/sessions/{session_id}"): "users-end_session",
    ("post", "/api/v1/users/me/sessions/end-others"): "users-end_other_sessions",
    ("get", "/api/v1/users/me/2fa"): "users-read_two_factor",
    ("post", "/api/v1/users/me/2fa/setup"): "users-start_two_factor",
    ("post", "/api/v1/users/me/2fa/enable"): "users-enable_two_factor",
    ("post", "/api/v1/users/me/2fa/disable"): "users-disable_two_factor",
    ("post", "/api/v1/users/me/2fa/recovery-codes"): "users-regenerate_recovery_codes",
    ("post", "/api/v1/users/me/delete"): "users-delete_account",
    ("post", "/api/v1/items"): "items-create_item",
    ("get", "/api/v1/items"): "items-list_items",
    ("get", "/api/v1/items/{item_id}"): "items-read_item",
    ("patch", "/api/v1/items/{item_id}"): "items-update_item",
    ("delete", "/api/v1/items/{item_id}"): "items-delete_item",
{%- if cookiecutter.use_celery %}
    ("post", "/api/v1/items/export"): "tasks-export_items",
    ("get", "/api/v1/tasks/{task_id}"): "tasks-read_task",
{%- endif %}
    ("get", "/api/v1/admin/users"): "admin-list_users",
    ("get", "/api/v1/admin/users/{user_id}"): "admin-read_user",
    ("patch", "/api/v1/admin/users/{user_id}"): "admin-update_user",
    ("delete", "/api/v1/admin/users/{user_id}"): "admin-delete_user",
    ("post", "/api/v1/admin/users/{user_id}/revoke-sessions"): "admin-revoke_sessions",
    ("post", "/api/v1/admin/users/{user_id}/reset-2fa"): "admin-reset_two_factor",
    ("post", "/api/v1/admin/users/{user_id}/require-new-password"): "admin-require_new_password",
    ("get", "/api/v1/admin/audit-events"): "admin-list_audit_events",
    ("get", "/health/live"): "health-live",
    ("get", "/health/ready"): "health-ready",
}


def test_every_operation_keeps_its_id(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    operation_ids = {
        (method, path): operation["operationId"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    assert operation_ids == OPERATION_IDS, "a new operation's id goes into OPERATION_IDS; a changed one breaks clients"
