"""Pure parsing of an API-channel post into the unified schema (no I/O, no clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from omnihub.connectors.errors import BadPayload
from omnihub.normalizer.addresses import InvalidAddress, normalize_email, normalize_phone
from omnihub.normalizer.schema import (
    Identity,
    InboundMessage,
    Part,
    Sender,
    TextPart,
    assemble,
)

IDENTITY_KIND = "api"


class ApiCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)


class ApiPost(BaseModel):
    """The body a shop posts to `POST /webhooks/{channel_id}`."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=255)
    customer: ApiCustomer
    text: str | None = None
    parts: list[Part] | None = None
    sent_at: datetime | None = None
    thread: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _has_content(self) -> ApiPost:
        if not self.text and not self.parts:
            raise ValueError("a message needs `text` or `parts`")
        return self


def customer_address(channel_id: str, customer_external_id: str) -> str:
    """API customer ids are the shop's own, so they are scoped by channel."""
    return f"{channel_id}:{customer_external_id}"


def parse_post(channel_id: str, data: Any, *, raw: bytes | None = None) -> InboundMessage:
    """Turn a decoded API post into an InboundMessage, or raise BadPayload naming the field."""
    try:
        post = ApiPost.model_validate(data)
    except ValidationError as exc:
        raise BadPayload(_describe(exc)) from None
    # The shop signs the post, so every address it sends is vouched for (verified).
    identities = [_verified(IDENTITY_KIND, customer_address(channel_id, post.customer.external_id))]
    # A bad address from the shop's own system is its bug to fix: refuse it by name
    # rather than silently storing the message without it.
    try:
        if post.customer.email:
            identities.append(_verified("email", normalize_email(post.customer.email)))
    except InvalidAddress as exc:
        raise BadPayload(f"customer.email: {exc}") from None
    try:
        if post.customer.phone:
            identities.append(_verified("phone", normalize_phone(post.customer.phone)))
    except InvalidAddress as exc:
        raise BadPayload(f"customer.phone: {exc}") from None
    parts: list[Part] = list(post.parts or [])
    if post.text:
        parts.insert(0, assemble(TextPart, kind="text", text=post.text, html=None))
    # Everything below was validated as ApiPost (ids, lengths, at least one part), so
    # the models are built without validating it a second time: this runs per message.
    return assemble(
        InboundMessage,
        channel_id=channel_id,
        channel_type="api",
        external_id=post.external_id,
        sender=assemble(Sender, identities=identities, display_name=post.customer.name),
        thread_key=post.thread,
        parts=parts,
        sent_at=post.sent_at,
        reply_to_external_id=None,
        raw=raw,
        raw_content_type="application/json",
        language=None,
        automated=None,
    )


def _verified(kind: str, address: str) -> Identity:
    return assemble(Identity, kind=kind, address=address, verified=True)


def _describe(exc: ValidationError) -> str:
    """One line per problem, with the JSON path of the field: clients fix what is named."""
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(body)"
        lines.append(f"{path}: {err['msg']}")
    return "; ".join(lines)
