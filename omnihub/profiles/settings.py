"""The `profiles:` section of hub.yaml: where the tag rules are, how the shop signs.

    profiles:
      tag_rules: config/customer_tags.yaml
      recheck_seconds: 300
      shop_webhook:
        secret: ${OMNIHUB_SHOP_WEBHOOK_SECRET}
        channel: shop-app
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ProfileSettings", "ShopWebhookSettings"]


class ShopWebhookSettings(BaseModel):
    """`POST /shop/webhook`: the shop's back office pushes orders and attributes, signed
    like an API channel (Omnihub-Signature)."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=16)
    #: the API channel whose customer external ids the shop uses (`customer.external_id`)
    channel: str | None = Field(default=None, min_length=1, max_length=64)


class ProfileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: customer_tags.yaml; None: no derived tags
    tag_rules: Path | None = None
    #: how often the clock looks for customers whose time-windowed tags may have expired
    recheck_seconds: float = Field(default=300.0, gt=0)
    shop_webhook: ShopWebhookSettings | None = None
