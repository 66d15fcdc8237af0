"""The store as the rest of the hub sees it: one object, async methods, no SQL outside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omnihub.connectors.base import OutboundMessage
from omnihub.normalizer.schema import (
    Conversation,
    Customer,
    Identity,
    InboundMessage,
    InboundUpdate,
    Message,
    Part,
)
from omnihub.store import conversations, customers, history, replies, updates
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.ingest import IngestResult, IngestWriter
from omnihub.store.paging import Page
from omnihub.store.replies import DeliveryStatus

__all__ = ["Store"]


class Store:
    """The repository API over one Database; `on_commit` is called after every commit
    that wrote outbox rows (the outbox dispatcher's wake-up)."""

    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        *,
        max_batch: int = 256,
        max_pending: int = 10_000,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.on_commit = on_commit
        self.writer = IngestWriter(
            db, cipher, max_batch=max_batch, max_pending=max_pending, on_commit=on_commit
        )

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        """Store everything already queued, then stop the writer."""
        await self.writer.close()

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Durably store one inbound message (group-committed); StoreBusy when saturated."""
        return await self.writer.ingest(message)

    async def apply_update(self, update: InboundUpdate) -> Message | None:
        """Apply a customer's edit or deletion of a stored message (idempotent)."""
        return await updates.apply_update(self.db, update, on_commit=self.on_commit)

    async def get_customer(self, customer_id: str) -> Customer | None:
        return await customers.get_customer(self.db, self.cipher, customer_id)

    async def find_customer(self, kind: str, address: str) -> Customer | None:
        return await customers.find_customer(self.db, self.cipher, kind, address)

    async def merge_customers(self, source_id: str, target_id: str, *, actor: str) -> str:
        merge_id = await customers.merge_customers(self.db, source_id, target_id, actor=actor)
        self._notify()
        return merge_id

    async def unmerge(self, merge_id: str, *, actor: str) -> None:
        await customers.unmerge(self.db, merge_id, actor=actor)
        self._notify()

    async def customer_history(
        self, customer_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Message]:
        return await history.customer_history(self.db, customer_id, limit=limit, cursor=cursor)

    async def list_conversations(
        self,
        *,
        status: str | None = None,
        channel_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Conversation]:
        return await conversations.list_conversations(
            self.db, status=status, channel_id=channel_id, limit=limit, cursor=cursor
        )

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await conversations.get_conversation(self.db, conversation_id)

    async def conversation_messages(
        self, conversation_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Message]:
        return await history.conversation_messages(
            self.db, conversation_id, limit=limit, cursor=cursor
        )

    async def queue_reply(
        self,
        conversation_id: str,
        parts: Sequence[Part | dict[str, Any]],
        *,
        author: str,
        idempotency_key: str | None = None,
        private: bool = False,
    ) -> tuple[Message, bool]:
        return await replies.queue_reply(
            self.db,
            conversation_id,
            parts,
            author=author,
            idempotency_key=idempotency_key,
            private=private,
            on_commit=self.on_commit,
        )

    async def mark_delivery(
        self,
        message_id: str,
        *,
        status: DeliveryStatus,
        external_id: str | None = None,
        error: str | None = None,
    ) -> Message:
        return await replies.mark_delivery(
            self.db,
            message_id,
            status=status,
            external_id=external_id,
            error=error,
            on_commit=self.on_commit,
        )

    async def delivery_target(
        self,
        message_id: str,
        *,
        identity_kind: str | None = None,
        pick: Callable[[list[Identity]], Identity | None] | None = None,
    ) -> OutboundMessage | None:
        return await replies.delivery_target(
            self.db, self.cipher, message_id, identity_kind=identity_kind, pick=pick
        )

    def _notify(self) -> None:
        if self.on_commit is not None:
            self.on_commit()
