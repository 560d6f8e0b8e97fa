"""TOTP codes (RFC 6238, with pyotp), the encryption of TOTP secrets at rest, and recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RECOVERY_CODE_COUNT = 10
# Accepted besides the current one: the step before and after, for clocks a little apart.
CLOCK_DRIFT_STEPS = 1


class SecretBox:
    """Encrypts TOTP secrets (Fernet: AES-128-CBC with an HMAC) with the first key, and decrypts with any:
    the keys are TOTP_ENCRYPTION_KEY then TOTP_ENCRYPTION_KEY_FALLBACKS (`Settings.totp_keys`)."""

    def __init__(self, keys: Sequence[str]) -> None:
        # Any long random string works as a key: HKDF turns it into a Fernet key.
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(key))) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The secret; ValueError when no key decrypts it (TOTP_ENCRYPTION_KEY changed without a fallback)."""
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise ValueError("the TOTP secret cannot be decrypted with TOTP_ENCRYPTION_KEY") from None

    def rotate(self, ciphertext: str) -> str:
        """The same secret encrypted with the first key; ValueError as for `decrypt`."""
        return self.encrypt(self.decrypt(ciphertext))


def _derive(key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp-secrets").derive(key.encode())


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read (from a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def without_blanks(code: str) -> str:
    """The code as typed, without spaces or line breaks: apps show "123 456", and people copy it so."""
    return "".join(code.split())


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is (within the allowed clock drift), or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - CLOCK_DRIFT_STEPS, current + CLOCK_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 80 random bits each, as `XXXX-XXXX-XXXX-XXXX` (base32: no 0 or 1 to mistake for O or I)."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def hash_recovery_code(code: str) -> str:
    """SHA-256 of the code without dashes, spaces or case: with 80 random bits, no salt or slow hash is needed."""
    normalised = without_blanks(code).replace("-", "").upper()
    return hashlib.sha256(normalised.encode()).hexdigest()
