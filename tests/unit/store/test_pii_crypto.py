"""PiiCipher: tokens, rotation, purposes, blind index and the generated key file."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from omnihub.store.crypto import (
    ADDRESS_PURPOSE,
    RAW_PAYLOAD_PURPOSE,
    DecryptionError,
    InvalidKey,
    PiiCipher,
    derive_index_key,
    load_or_create_keyfile,
)

OLD, NEW = bytes(32), bytes(range(32))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_roundtrip_hides_the_plaintext_and_is_randomized():
    cipher = PiiCipher([NEW], derive_index_key(NEW))
    a = cipher.encrypt("ann@example.com", ADDRESS_PURPOSE)
    b = cipher.encrypt("ann@example.com", ADDRESS_PURPOSE)
    assert a != b and "ann" not in a and a.startswith(cipher.primary_key_id + ":")
    assert cipher.decrypt(a, ADDRESS_PURPOSE) == "ann@example.com"
    assert (
        cipher.decrypt_bytes(
            cipher.encrypt_bytes(b"\x00raw", RAW_PAYLOAD_PURPOSE), RAW_PAYLOAD_PURPOSE
        )
        == b"\x00raw"
    )


def test_a_token_opens_only_for_its_purpose_and_untampered():
    cipher = PiiCipher([NEW], derive_index_key(NEW))
    token = cipher.encrypt("ann@example.com", ADDRESS_PURPOSE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, RAW_PAYLOAD_PURPOSE)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "nokeyid", "deadbeef:AAAA", token.split(":")[1]):
        with pytest.raises(DecryptionError):
            cipher.decrypt(bad, ADDRESS_PURPOSE)


def test_rotation_first_key_encrypts_all_keys_decrypt():
    old = PiiCipher([OLD], derive_index_key(OLD))
    both = PiiCipher.from_config(b64(NEW), [b64(OLD)])
    token = old.encrypt("+14155552671", ADDRESS_PURPOSE)
    assert both.decrypt(token, ADDRESS_PURPOSE) == "+14155552671"
    assert both.needs_rotation(token)
    rotated = both.rotate(token, ADDRESS_PURPOSE)
    assert not both.needs_rotation(rotated) and both.rotate(rotated, ADDRESS_PURPOSE) == rotated
    assert (
        PiiCipher([NEW], derive_index_key(OLD)).decrypt(rotated, ADDRESS_PURPOSE) == "+14155552671"
    )
    with pytest.raises(DecryptionError):
        old.decrypt(rotated, ADDRESS_PURPOSE)


def test_blind_index_is_keyed_stable_across_rotation_and_kind_scoped():
    old = PiiCipher.from_config(b64(OLD))
    rotated = PiiCipher.from_config(b64(NEW), [b64(OLD)])
    other = PiiCipher.from_config(b64(NEW))
    index = old.blind_index("email", "ann@example.com")
    assert len(index) == 64 and int(index, 16) >= 0
    assert rotated.blind_index("email", "ann@example.com") == index
    assert other.blind_index("email", "ann@example.com") != index
    assert old.blind_index("phone", "ann@example.com") != index


def test_bad_keys_are_named_errors_without_the_key():
    with pytest.raises(InvalidKey, match="32 bytes"):
        PiiCipher.from_config(b64(b"short"))
    with pytest.raises(InvalidKey, match="security.pii_key is not valid base64"):
        PiiCipher.from_config("!!not base64!!")
    with pytest.raises(InvalidKey):
        PiiCipher([], NEW)


def test_keyfile_is_created_once_private_and_reloaded(tmp_path):
    path = tmp_path / "data" / "pii.key"
    created = load_or_create_keyfile(path)
    assert created.created and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_keyfile(path)
    assert not again.created and (again.key, again.index_key) == (created.key, created.index_key)
    assert again.index_key == derive_index_key(again.key)
    # the same index as a config that names the generated key as its first-ever key
    from_file = PiiCipher([again.key], again.index_key)
    from_config = PiiCipher.from_config(b64(NEW), [b64(again.key)])
    assert from_file.blind_index("email", "a@b.c") == from_config.blind_index("email", "a@b.c")
    assert [p.name for p in path.parent.iterdir()] == ["pii.key"]


def test_a_corrupt_keyfile_is_an_error_not_a_new_key(tmp_path):
    path = tmp_path / "pii.key"
    path.write_text("{}")
    with pytest.raises(InvalidKey, match="not an omnihub key file"):
        load_or_create_keyfile(path)
