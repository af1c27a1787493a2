"""Secrets at rest, password hashing and token hashing.

Every secret Shoal stores (kubeconfigs, tokens, cloud keys, SSH keys) goes
through :class:`SecretBox`; passwords are hashed with argon2id; API and session
tokens are stored only as SHA-256 digests, since they are long random strings
and need no slow hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "SecretBox",
    "SecretDecryptError",
    "configure_password_hashing",
    "hash_password",
    "hash_token",
    "new_token",
    "tokens_equal",
    "verify_password",
    "verify_password_or_dummy",
]

_hasher = PasswordHasher()
#: A hash of a random password made with the current cost, verified against when there is no real hash,
#: so an unknown user costs the same argon2 work as a known one (made lazily: the cost may change first).
_dummy_hash: str | None = None
TOKEN_PREFIX = "shoal_"


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted (wrong SHOAL_SECRET_KEY or corrupt data)."""


class SecretBox:
    """Authenticated encryption of small secrets with a key derived from SHOAL_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("secret key must not be empty")
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"shoal-secrets-v1", info=b"fernet"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as e:
            raise SecretDecryptError("stored secret cannot be decrypted with this key") from e


def configure_password_hashing(*, time_cost: int, memory_cost_kib: int) -> None:
    """Change argon2 cost; the test suite lowers it so thousands of logins stay fast."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
    _dummy_hash = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password_or_dummy(password_hash: str | None, password: str) -> bool:
    """Verify like :func:`verify_password`; with no hash (unknown user, no password) do the same work, say no.

    Answering an unknown user without an argon2 run would tell an attacker which
    usernames exist by the response time alone.
    """
    global _dummy_hash
    if password_hash:
        return verify_password(password_hash, password)
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_dummy_hash, password)
    return False


def new_token() -> str:
    """A fresh bearer token; the prefix lets secret scanners recognise leaked ones."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
