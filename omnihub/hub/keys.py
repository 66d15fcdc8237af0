"""The contact-data key: from hub.yaml, or generated into the data directory on first start."""

from __future__ import annotations

import logging

from omnihub.hub.settings import HubSettings
from omnihub.store.crypto import PiiCipher, load_or_create_keyfile

log = logging.getLogger("omnihub.keys")

KEYFILE_NAME = "pii.key"


def load_cipher(settings: HubSettings) -> PiiCipher:
    """A configured `security.pii_key` wins; otherwise the key file under data_dir,
    created (mode 0600) and announced in the log the first time."""
    security = settings.security
    if security.pii_key:
        return PiiCipher.from_config(security.pii_key, security.pii_old_keys)
    path = settings.data_dir / KEYFILE_NAME
    keys = load_or_create_keyfile(path)
    if keys.created:
        log.warning("no security.pii_key configured: generated a new contact-data key in %s; "
                    "back it up with the database, without it stored addresses can't be read",
                    path)
    return PiiCipher([keys.key], keys.index_key)
