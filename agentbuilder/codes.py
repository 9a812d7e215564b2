"""Demo secrets (verification and MFA codes): generated, hashed, compared. Never logged.

Codes are short, so a plain hash would fall to a brute force over 10**4 values; each hash is
an HMAC keyed with the project's SECRET_KEY and a per-code salt, so a database dump alone does
not reveal them. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings


def code_new(digits: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def salt_new() -> str:
    return secrets.token_hex(8)


def code_hash(code: str, salt: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(code: str, *, salt: str, digest: str) -> bool:
    return hmac.compare_digest(code_hash(code.strip(), salt), digest)
