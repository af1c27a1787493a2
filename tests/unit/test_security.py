"""Secrets at rest, password and token hashing."""

from __future__ import annotations

import pytest

from shoal.core.security import SecretBox, SecretDecryptError, hash_password, hash_token, new_token, verify_password


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox("key-one")
    sealed = box.encrypt("apiVersion: v1\nkind: Config\n")
    assert "Config" not in sealed
    assert box.decrypt(sealed) == "apiVersion: v1\nkind: Config\n"
    with pytest.raises(SecretDecryptError):
        SecretBox("key-two").decrypt(sealed)
    assert "key-one" not in repr(box)


def test_password_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("s3cret-pass")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "s3cret-pass")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "s3cret-pass")


def test_tokens_are_random_and_hashed() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith("shoal_")
    assert hash_token(a) != a and len(hash_token(a)) == 64
