"""The two signatures of the ACS wire: HMAC on SDK requests, RS256 JWTs on what ACS sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ACS_JWT_ISSUER = "https://acscallautomation.communication.azure.com"


def new_access_key() -> str:
    """A random ACS access key (base64, as the SDK requires)."""
    return base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()


def hmac_check(
    *, access_key: str, method: str, path_and_query: str, headers: dict[str, str], body: bytes
) -> str | None:
    """Verify the SDK's `HMAC-SHA256` Authorization header; None when valid, else why not.

    String to sign: `VERB\\npath_and_query\\nx-ms-date;host;x-ms-content-sha256`.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    authorization = lower.get("authorization", "")
    if not authorization.startswith("HMAC-SHA256 "):
        return "missing HMAC-SHA256 authorization"
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if lower.get("x-ms-content-sha256") != content_hash:
        return "x-ms-content-sha256 does not match the body"
    date, host = lower.get("x-ms-date", ""), lower.get("host", "")
    if not date or not host:
        return "missing x-ms-date or host"
    to_sign = f"{method.upper()}\n{path_and_query}\n{date};{host};{content_hash}"
    expected = base64.b64encode(
        hmac.new(base64.b64decode(access_key), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    params = dict(
        part.split("=", 1) for part in authorization.split(" ", 1)[1].split("&") if "=" in part
    )
    if not hmac.compare_digest(params.get("Signature", ""), expected):
        return "HMAC signature mismatch"
    return None


class AcsJwtSigner:
    """Signs tokens the way ACS does on callbacks and the media socket, and publishes the keys.

    Args:
        audience: the ACS resource id the app is configured with (`ACS_JWT_AUDIENCE`).
        private_key: an RSA private key; a fresh 2048-bit key when omitted.
    """

    def __init__(
        self,
        *,
        audience: str,
        private_key: rsa.RSAPrivateKey | None = None,
        issuer: str = ACS_JWT_ISSUER,
        kid: str | None = None,
        lifetime_s: int = 3600,
    ) -> None:
        self.audience = audience
        self.issuer = issuer
        self.private_key = private_key or rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        self.kid = kid or f"fake-acs-{uuid.uuid4().hex[:12]}"
        self.lifetime_s = lifetime_s

    def token(self, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_s,
            **overrides,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}
