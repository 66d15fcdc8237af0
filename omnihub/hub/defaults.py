"""What `omnihub serve` runs with when there is no hub.yaml at all."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from omnihub.hub.settings import HubSettings

log = logging.getLogger("omnihub")

API_CHANNEL_ID = "api"
SECRET_FILE = "api-channel.secret"


def embedded_settings(data_dir: Path | str = "data") -> HubSettings:
    """SQLite under data/, the in-process bus, and one API channel (`/webhooks/api`).

    Its secret comes from OMNIHUB_API_SECRET or a file generated in data_dir, so a shop
    can start posting signed messages without writing any configuration.
    """
    data = Path(data_dir)
    secret = os.environ.get("OMNIHUB_API_SECRET") or _secret_file(data / SECRET_FILE)
    return HubSettings.model_validate({
        "data_dir": str(data),
        "channels": [{"id": API_CHANNEL_ID, "type": "api", "secret": secret}],
    })


def _secret_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    log.warning("API channel %r: generated its signing secret into %s", API_CHANNEL_ID, path)
    return secret
