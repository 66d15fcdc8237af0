"""Building the hub's ProfileService from hub.yaml (kept out of hub/runtime.py)."""

from __future__ import annotations

from omnihub.hub.settings import HubSettings
from omnihub.profiles.rules import load_tag_rules
from omnihub.profiles.service import ProfileService
from omnihub.store.db import Database

__all__ = ["profile_service"]


def profile_service(db: Database, settings: HubSettings) -> ProfileService:
    """Load the tag rules now: a hub must not start on an invalid file (ConfigError)."""
    config = settings.profiles
    rules = None if config.tag_rules is None else load_tag_rules(config.tag_rules)
    return ProfileService(db, rules, recheck_seconds=config.recheck_seconds)
