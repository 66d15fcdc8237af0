"""Encryption at rest for contact data: AES-GCM tokens plus a keyed blind index.

A token is ``"<key id>:<base64url(nonce || ciphertext)>"``. The key id (a short hash of
the key, never the key) says which key sealed it, so a cipher holding the new key first
and the old ones after decrypts every token while encrypting only under the new one:
that is key rotation. The associated data binds a token to its purpose and key id
(``"identities.address|<kid>"``), so a token copied into another column fails to open.

The blind index (HMAC-SHA256 of ``"<kind>:<address>"``) is what lookups match on. It uses
its own index key, derived once from the first-ever key, so it stays the same across
rotations: re-encrypting never re-indexes, and old indexes keep matching.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ADDRESS_PURPOSE",
    "RAW_PAYLOAD_PURPOSE",
    "DecryptionError",
    "InvalidKey",
    "PiiCipher",
    "PiiKeys",
    "derive_index_key",
    "load_or_create_keyfile",
]

KEY_BYTES = 32
NONCE_BYTES = 12
ADDRESS_PURPOSE = "identities.address"
RAW_PAYLOAD_PURPOSE = "raw_payloads.body"


class InvalidKey(ValueError):
    """A configured key that is not 32 bytes of base64; the message never shows the key."""


class DecryptionError(ValueError):
    """A token sealed by a key we don't hold, for another purpose, or tampered with."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_key(value: str, *, name: str = "security.pii_key") -> bytes:
    """Decode a base64 (standard or URL-safe) 32-byte key, with an error naming the setting."""
    try:
        key = base64.b64decode(value.strip().replace("-", "+").replace("_", "/") + "==")
    except (binascii.Error, ValueError):
        raise InvalidKey(f"{name} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise InvalidKey(f"{name} must be {KEY_BYTES} bytes, base64-encoded (got {len(key)} bytes)")
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key: enough to pick the right key, useless to an attacker."""
    return hashlib.sha256(b"omnihub pii key id\0" + key).hexdigest()[:8]


def derive_index_key(first_key: bytes) -> bytes:
    """The blind-index key, derived from the first-ever key so rotation never changes it."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"omnihub blind index v1"
    )
    return hkdf.derive(first_key)


class PiiCipher:
    """Seals and opens personal data; the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[bytes], index_key: bytes) -> None:
        if not keys:
            raise InvalidKey("at least one encryption key is needed")
        for key in (*keys, index_key):
            if len(key) != KEY_BYTES:
                raise InvalidKey(f"keys must be {KEY_BYTES} bytes (got {len(key)})")
        self._ciphers = {key_id(key): AESGCM(key) for key in keys}
        self.primary_key_id = key_id(keys[0])
        self._primary = self._ciphers[self.primary_key_id]
        self._index_key = index_key

    @classmethod
    def from_config(
        cls, pii_key_b64: str, old_keys_b64: Iterable[str] = (), *, index_key_b64: str | None = None
    ) -> PiiCipher:
        """Build from settings: the new key, then older keys, oldest last.

        Without an explicit index key it is derived from the last (first-ever) key, so
        keep that key listed after a rotation, or set the index key explicitly.
        """
        keys = [decode_key(pii_key_b64)]
        keys += [decode_key(k, name="security.old_pii_keys") for k in old_keys_b64]
        if index_key_b64 is not None:
            index_key = decode_key(index_key_b64, name="security.pii_index_key")
        else:
            index_key = derive_index_key(keys[-1])
        return cls(keys, index_key)

    def encrypt_bytes(self, data: bytes, purpose: str) -> str:
        """Seal raw bytes (a provider payload) under the primary key."""
        nonce = os.urandom(NONCE_BYTES)
        aad = f"{purpose}|{self.primary_key_id}".encode()
        return f"{self.primary_key_id}:{_b64(nonce + self._primary.encrypt(nonce, data, aad))}"

    def decrypt_bytes(self, token: str, purpose: str) -> bytes:
        """Open a token sealed by any key this cipher holds."""
        kid, sep, body = token.partition(":")
        cipher = self._ciphers.get(kid) if sep else None
        if cipher is None:
            raise DecryptionError(
                f"no key with id {kid!r} for {purpose}"
                if sep
                else f"not an encrypted {purpose} token"
            )
        try:
            blob = _unb64(body)
            return cipher.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], f"{purpose}|{kid}".encode()
            )
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionError(f"{purpose} token failed authentication") from None

    def encrypt(self, text: str, purpose: str) -> str:
        return self.encrypt_bytes(text.encode(), purpose)

    def decrypt(self, token: str, purpose: str) -> str:
        return self.decrypt_bytes(token, purpose).decode()

    def needs_rotation(self, token: str) -> bool:
        """True when a token was sealed by an older key."""
        return not token.startswith(self.primary_key_id + ":")

    def rotate(self, token: str, purpose: str) -> str:
        """Re-seal a token under the primary key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt_bytes(self.decrypt_bytes(token, purpose), purpose)

    def blind_index(self, kind: str, address: str) -> str:
        """The lookup key of an address: stable, keyed, and reveals nothing without the key."""
        return hmac.new(self._index_key, f"{kind}:{address}".encode(), hashlib.sha256).hexdigest()


class PiiKeys(NamedTuple):
    key: bytes
    index_key: bytes
    created: bool  # True when the file was generated just now (the hub says so at start)


def load_or_create_keyfile(path: str | os.PathLike[str]) -> PiiKeys:
    """Read the generated key file, or create it (mode 0600) when there is no configured key."""
    file = Path(path)
    try:
        data = json.loads(file.read_text())
        key = decode_key(data["pii_key"], name=f"{file.name}: pii_key")
        index_key = decode_key(data["index_key"], name=f"{file.name}: index_key")
        return PiiKeys(key, index_key, created=False)
    except FileNotFoundError:
        pass
    except (KeyError, TypeError, json.JSONDecodeError):
        raise InvalidKey(f"{file} is not an omnihub key file") from None
    key = os.urandom(KEY_BYTES)
    index_key = derive_index_key(key)
    file.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {
            "pii_key": base64.b64encode(key).decode(),
            "index_key": base64.b64encode(index_key).decode(),
        }
    )
    # Written aside, then linked into place: a second process starting at the same
    # moment either wins the link or reads the complete file, never a half-written one.
    temp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temp, file)
    except FileExistsError:
        return load_or_create_keyfile(file)
    finally:
        temp.unlink()
    return PiiKeys(key, index_key, created=True)
