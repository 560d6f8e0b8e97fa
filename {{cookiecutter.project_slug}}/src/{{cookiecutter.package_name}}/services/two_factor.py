"""Two-factor login with TOTP: enrolment, the codes accepted at login, recovery codes.

Checking the password before enrolling, disabling or regenerating is AuthService's (it owns
password checks and their lockout), and an admin's reset is AdminService's; this service trusts
its caller for that. Turning two-factor login on or off, and spending a recovery code, mails the
user a notice, so a change they did not make does not go unseen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import segno
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ..about import TITLE
from ..core.exceptions import ConflictError, InvalidCodeError
from ..core.two_factor import (
    SecretBox,
    hash_recovery_code,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    without_blanks,
)
from ..db.models import User, utc_now
from ..db.repositories import RecoveryCodeRepository, UserRepository
from ..mail import Outbox
from .audit import Action, AuditTrail

TOTP_CODE = re.compile(r"\d{6}")
ROTATION_BATCH_SIZE = 500  # secrets re-encrypted per transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_code_svg: str


@dataclass(frozen=True, slots=True)
class SecretRotation:
    reencrypted: int
    undecryptable: list[int]  # user ids whose secret no key decrypts


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled: bool
    recovery_codes_left: int


class TwoFactorService:
    def __init__(self, session: AsyncSession, totp_secrets: SecretBox, audit: AuditTrail, outbox: Outbox) -> None:
        self.session = session
        self.totp_secrets = totp_secrets
        self.audit = audit
        self.outbox = outbox
        self.users = UserRepository(session)
        self.recovery_codes = RecoveryCodeRepository(session)

    async def status(self, user_id: int) -> TwoFactorStatus:
        user = await self.users.get(user_id)
        codes_left = await self.recovery_codes.count_unused(user.id) if user.two_factor_enabled else 0
        return TwoFactorStatus(enabled=user.two_factor_enabled, recovery_codes_left=codes_left)

    async def start_enrolment(self, user: User) -> Enrolment:
        """A new secret for the user's authenticator; two-factor login starts once a code confirms it.
        The caller has confirmed the password and that two-factor login is off."""
        secret = new_totp_secret()
        user.totp_secret = self.totp_secrets.encrypt(secret)
        user.totp_last_step = None
        await self.session.commit()
        uri = provisioning_uri(secret, user.email, TITLE)
        return Enrolment(secret=secret, otpauth_uri=uri, qr_code_svg=segno.make(uri, error="m").svg_inline(scale=4))

    async def enable(self, user: User, code: str) -> list[str]:
        """Confirm enrolment with a current code; returns the recovery codes (shown this once)."""
        if user.two_factor_enabled:
            raise ConflictError("Two-factor login is already enabled")
        if user.totp_secret is None:
            raise ConflictError("Start two-factor enrolment first")
        if not await self._accept_totp(user, without_blanks(code)):
            raise InvalidCodeError
        user.totp_enabled_at = utc_now()
        codes = await self._new_recovery_codes(user)
        self.audit.record(Action.TWO_FACTOR_ENABLE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        self.outbox.send("two_factor_enabled", user.email)
        return codes

    async def accept_code(self, user: User, code: str) -> bool:
        """A TOTP code not accepted before, or an unused recovery code (which is then spent)."""
        if not user.two_factor_enabled:
            return False
        code = without_blanks(code)
        if TOTP_CODE.fullmatch(code):
            return await self._accept_totp(user, code)
        await self.users.lock(user.id)  # before the code's row: the lock order of account changes
        if await self.recovery_codes.consume(user.id, hash_recovery_code(code)):
            self.audit.record(Action.RECOVERY_CODE_USE, actor_id=user.id, target_user_id=user.id)
            codes_left = await self.recovery_codes.count_unused(user.id)
            self.outbox.send("recovery_code_used", user.email, codes_left=codes_left)
            return True
        return False

    async def regenerate_recovery_codes(self, user: User) -> list[str]:
        codes = await self._new_recovery_codes(user)
        self.audit.record(Action.RECOVERY_CODES_REGENERATE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        return codes

    async def disable(self, user: User) -> None:
        """Switched off by its user."""
        await self.switch_off(user)
        self.audit.record(Action.TWO_FACTOR_DISABLE, actor_id=user.id, target_user_id=user.id)
        await self.session.commit()
        self.outbox.send("two_factor_disabled", user.email)

    async def switch_off(self, user: User) -> None:
        """Forget the secret and the recovery codes; the caller records why, commits and tells the user."""
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        await self.recovery_codes.delete_all(user.id)

    async def _accept_totp(self, user: User, code: str) -> bool:
        if user.totp_secret is None:
            return False
        try:
            secret = self.totp_secrets.decrypt(user.totp_secret)
        except ValueError:  # TOTP_ENCRYPTION_KEY changed: the code fails like a wrong one (docs/operations.md)
            log.error("totp_secret_undecryptable", user_id=user.id)
            return False
        step = matching_step(secret, code, utc_now())
        # Claimed atomically: the same code (or an older one) is refused even to a concurrent request.
        return step is not None and await self.users.claim_totp_step(user.id, step)

    async def _new_recovery_codes(self, user: User) -> list[str]:
        codes = new_recovery_codes()
        await self.recovery_codes.replace(user.id, [hash_recovery_code(code) for code in codes])
        return codes


async def rotate_totp_secrets(session: AsyncSession, totp_secrets: SecretBox) -> SecretRotation:
    """Re-encrypt every stored TOTP secret with TOTP_ENCRYPTION_KEY, a batch per transaction, so that
    TOTP_ENCRYPTION_KEY_FALLBACKS can be removed. A secret that changed meanwhile is left as it is:
    the service wrote it with TOTP_ENCRYPTION_KEY already."""
    users = UserRepository(session)
    reencrypted, undecryptable, after_id = 0, [], 0
    while batch := await users.totp_secrets_after(after_id, ROTATION_BATCH_SIZE):
        for user_id, ciphertext in batch:
            try:
                rotated = totp_secrets.rotate(ciphertext)
            except ValueError:
                undecryptable.append(user_id)
                continue
            reencrypted += await users.replace_totp_secret(user_id, ciphertext, rotated)
        await session.commit()
        after_id = batch[-1].id
    log.info("totp_secrets_rotated", reencrypted=reencrypted, undecryptable=len(undecryptable))
    return SecretRotation(reencrypted, undecryptable)
