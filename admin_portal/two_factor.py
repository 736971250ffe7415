"""TOTP second factor (RFC 6238 through pyotp): enrolment by QR code, codes checked once
(a code's time step is remembered, so a code seen over someone's shoulder cannot be
replayed), and recovery codes for a lost phone."""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, user_id: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user_id, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The enrolment QR code as an SVG data URI (an <img>, so the CSP needs no inline content)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff"))


def matching_step(secret: str, code: str, *, now: float | None = None, window: int = 1) -> int | None:
    """The time step whose code this is (this step or ``window`` either side), else None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(time.time() if now is None else now)
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def current_step(secret: str) -> int:
    return pyotp.TOTP(secret).timecode(time.time())


def new_recovery_codes() -> list[str]:
    return ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2)) for _ in range(RECOVERY_CODES)]


def normalise_recovery_code(text: str) -> str:
    compact = "".join(text.lower().split()).replace("-", "")
    return f"{compact[:5]}-{compact[5:]}" if len(compact) == 10 else compact
