"""Auth.js (NextAuth v5) session tokens, as Alex 0.6.0 issues them, written here from the specs for the
stand-in Alex (tests/support/alex_web.py) and for tests that forge or inspect tokens.

A token is a compact JWE (RFC 7516): `alg: dir`, `enc: A256CBC-HS512` (RFC 7518 5.2.5), with the key
derived by HKDF-SHA256 from the secret (NEXTAUTH_SECRET), salt = the cookie's name, info =
`Auth.js Generated Encryption Key (<salt>)`, 64 bytes (@auth/core `jwt.ts`). The claims carry `iat`,
`exp` (iat + 30 days, Alex's maxAge) and a random `jti`, all three set anew each time the token is
written, so every refresh of a session is a new token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_AGE = 30 * 24 * 60 * 60
CLOCK_TOLERANCE = 15


def cookie_name(nextauth_url: str | None) -> str:
    """Alex pins it (src/lib/auth/cookies.ts): `__Secure-` exactly when NEXTAUTH_URL is https."""
    secure = bool(nextauth_url and nextauth_url.startswith("https://"))
    return ("__Secure-" if secure else "") + "authjs.session-token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key(secret: str, salt: str) -> bytes:
    info = f"Auth.js Generated Encryption Key ({salt})".encode()
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=salt.encode(), info=info).derive(secret.encode())


def _tag(mac_key: bytes, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    length = (len(aad) * 8).to_bytes(8, "big")
    return hmac.new(mac_key, aad + iv + ciphertext + length, hashlib.sha512).digest()[:32]


def encode(claims: dict[str, Any], secret: str, salt: str, *, now: float | None = None) -> str:
    """A token for `claims`, issued `now` (default: the clock), with a fresh jti, valid MAX_AGE."""
    issued = int(time.time() if now is None else now)
    payload = {**claims, "iat": issued, "exp": issued + MAX_AGE, "jti": str(uuid.uuid4())}
    k = key(secret, salt)
    header = _b64(json.dumps({"alg": "dir", "enc": "A256CBC-HS512"}, separators=(",", ":")).encode())
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(payload).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(k[32:]), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    tag = _tag(k[:32], header.encode("ascii"), iv, ciphertext)
    return f"{header}..{_b64(iv)}.{_b64(ciphertext)}.{_b64(tag)}"


def decode(token: str, secret: str, salt: str) -> dict[str, Any] | None:
    """The claims of a token this secret made and that has not expired, else None."""
    try:
        header, encrypted_key, iv_text, cipher_text, tag_text = token.split(".")
        if encrypted_key:
            return None
        k = key(secret, salt)
        iv, ciphertext = _unb64(iv_text), _unb64(cipher_text)
        if not hmac.compare_digest(_tag(k[:32], header.encode("ascii"), iv, ciphertext), _unb64(tag_text)):
            return None
        decryptor = Cipher(algorithms.AES(k[32:]), modes.CBC(iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(decryptor.update(ciphertext) + decryptor.finalize()) + unpadder.finalize()
        payload: dict[str, Any] = json.loads(plain)
    except (ValueError, TypeError):
        return None
    if payload.get("exp", 0) + CLOCK_TOLERANCE <= time.time():
        return None
    return payload
