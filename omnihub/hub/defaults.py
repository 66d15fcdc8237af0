"""What `omnihub serve` runs with when there is no hub.yaml at all."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from omnihub.hub.settings import HubSettings

log = logging.getLogger("omnihub")

API_CHANNEL_ID = "api"
WEBCHAT_CHANNEL_ID = "web"


def embedded_settings(data_dir: Path | str = "data") -> HubSettings:
    """SQLite under data/, the in-process bus, an API channel (`/webhooks/api`) and the
    web chat (`/chat/demo`).

    Secrets come from OMNIHUB_API_SECRET / OMNIHUB_WEBCHAT_SECRET or from files generated
    in data_dir, so a shop can start without writing any configuration.
    """
    data = Path(data_dir)
    api_secret = os.environ.get("OMNIHUB_API_SECRET") or _secret_file(data / "api-channel.secret")
    web_secret = os.environ.get("OMNIHUB_WEBCHAT_SECRET") or _secret_file(data / "webchat.secret")
    return HubSettings.model_validate({
        "data_dir": str(data),
        "channels": [
            {"id": API_CHANNEL_ID, "type": "api", "secret": api_secret},
            {"id": WEBCHAT_CHANNEL_ID, "type": "webchat", "secret": web_secret},
        ],
    })


def _secret_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    log.warning("generated a new channel signing secret into %s", path)
    return secret
