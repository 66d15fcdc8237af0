"""The store as the rest of the hub sees it: one object, async methods, no SQL outside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from omnihub.connectors.base import OutboundMessage
from omnihub.hub.bus.base import Envelope
from omnihub.normalizer.schema import (
    Conversation,
    Customer,
    Identity,
    InboundMessage,
    InboundUpdate,
    Message,
    Part,
)
from omnihub.store import (
    audit,
    conversation_ops,
    conversation_search,
    conversations,
    csat,
    customers,
    history,
    message_ops,
    replies,
    updates,
)
from omnihub.store.audit import Actor, AuditEntry
from omnihub.store.conversation_ops import Check
from omnihub.store.conversation_search import ConversationFilter, Visibility
from omnihub.store.message_ops import EditLimits, ReadMarker
from omnihub.store.crypto import PiiCipher
from omnihub.store.db import Database
from omnihub.store.ingest import IngestResult, IngestWriter
from omnihub.store.ingest_routing import IngestRouter
from omnihub.store.paging import Page
from omnihub.store.replies import DeliveryStatus

__all__ = ["Store"]


class Store:
    """The repository API over one Database; `on_commit` is called after every commit
    that wrote outbox rows (the outbox dispatcher's wake-up), except that ingest hands
    its rows to `on_events` instead when given (the dispatcher's fast path)."""

    def __init__(
        self,
        db: Database,
        cipher: PiiCipher,
        *,
        max_batch: int = 256,
        max_pending: int = 10_000,
        on_commit: Callable[[], object] | None = None,
        on_events: Callable[[Sequence[Envelope]], object] | None = None,
        router: IngestRouter | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.on_commit = on_commit
        #: how long a survey awaits its answer (store/csat.py); None: no answers recognized
        self.csat_window: timedelta | None = None
        self.writer = IngestWriter(
            db, cipher, max_batch=max_batch, max_pending=max_pending, on_commit=on_commit,
            on_events=on_events, router=router,
        )

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        """Store everything already queued, then stop the writer."""
        await self.writer.close()

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Durably store one inbound message (group-committed); StoreBusy when saturated.
        A satisfaction rating goes onto its surveyed conversation instead (store/csat.py)."""
        if self.csat_window is not None and (score := csat.score_of(message)) is not None:
            rated = await csat.record_answer(self.db, self.cipher, message, score,
                                             window=self.csat_window, on_commit=self.on_commit)
            if rated is not None:
                return rated
        return await self.writer.ingest(message)

    async def mark_dispatched(self, seqs: Sequence[int]) -> None:
        """Mark outbox rows dispatched, in the same commit as the next ingest batch."""
        await self.writer.mark_dispatched(seqs)

    async def apply_update(self, update: InboundUpdate) -> Message | None:
        """Apply a customer's edit or deletion of a stored message (idempotent)."""
        return await updates.apply_update(self.db, update, on_commit=self.on_commit)

    async def get_customer(self, customer_id: str) -> Customer | None:
        return await customers.get_customer(self.db, self.cipher, customer_id)

    async def find_customer(self, kind: str, address: str) -> Customer | None:
        return await customers.find_customer(self.db, self.cipher, kind, address)

    async def merge_customers(self, source_id: str, target_id: str, *, actor: str,
                              audit: Actor | None = None) -> str:
        merge_id = await customers.merge_customers(self.db, source_id, target_id, actor=actor,
                                                   audit=audit)
        self._notify()
        return merge_id

    async def unmerge(self, merge_id: str, *, actor: str, audit: Actor | None = None) -> None:
        await customers.unmerge(self.db, merge_id, actor=actor, audit=audit)
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
        actor: Actor | None = None,
    ) -> tuple[Message, bool]:
        return await replies.queue_reply(
            self.db,
            conversation_id,
            parts,
            author=author,
            idempotency_key=idempotency_key,
            private=private,
            on_commit=self.on_commit,
            actor=actor,
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

    async def mark_delivery_by_external_id(
        self, channel_id: str, external_id: str, *, status: DeliveryStatus,
        error: str | None = None,
    ) -> Message | None:
        """A provider's delivery receipt, addressed by the provider's message id."""
        return await replies.mark_delivery_by_external_id(
            self.db, channel_id, external_id, status=status, error=error,
            on_commit=self.on_commit)

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

    # --- the agent inbox: conversation operations (store/conversation_ops.py) ----------

    async def _change(self, conversation_id: str, actor: Actor, action: str,
                      decide: Callable[..., Any], check: Check | None) -> Conversation:
        return await conversation_ops.apply_change(
            self.db, conversation_id, actor, action, decide, check=check,
            on_commit=self.on_commit)

    async def assign(self, conversation_id: str, assignee: str | None, *, actor: Actor,
                     check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.assign",
                                  conversation_ops.assign(assignee), check)

    async def transfer(self, conversation_id: str, *, group: str | None, assignee: str | None,
                       reason: str, actor: Actor, check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.transfer",
                                  conversation_ops.transfer(group, assignee, reason), check)

    async def move_to_chosen_group(self, channel_id: str, external_id: str, *, group: str,
                                   reason: str) -> Conversation | None:
        """The group the customer chose at the provider (a phone menu) takes the
        conversation of their message `external_id`; None if no such message. Choosing
        the group it is in already changes nothing, so a replayed choice is harmless."""
        message = await replies.inbound_by_external_id(self.db, channel_id, external_id)
        if message is None:
            return None
        return await self.transfer(message.conversation_id, group=group, assignee=None,
                                   reason=reason, actor=Actor(f"channel:{channel_id}", "system"))

    async def escalate(self, conversation_id: str, *, reason: str, priority: int | None = None,
                       group: str | None = None, actor: Actor, check: Check | None = None,
                       ladder: conversation_ops.Ladder | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.escalate",
                                  conversation_ops.escalate(reason, priority, group, ladder), check)

    async def update_conversation(self, conversation_id: str, fields: dict[str, Any], *,
                                  add_tags: list[str] | None = None,
                                  remove_tags: list[str] | None = None, actor: Actor,
                                  check: Check | None = None) -> Conversation:
        decide = conversation_ops.update(fields, add_tags=add_tags or [],
                                         remove_tags=remove_tags or [])
        return await self._change(conversation_id, actor, "conversation.update", decide, check)

    async def resolve(self, conversation_id: str, *, actor: Actor,
                      check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.resolve",
                                  conversation_ops.resolve(), check)

    async def close_conversation(self, conversation_id: str, *, actor: Actor,
                                 check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.close",
                                  conversation_ops.close(), check)

    async def reopen(self, conversation_id: str, *, actor: Actor,
                     check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.reopen",
                                  conversation_ops.reopen(), check)

    async def snooze(self, conversation_id: str, until: datetime, *, actor: Actor,
                     check: Check | None = None) -> Conversation:
        return await self._change(conversation_id, actor, "conversation.snooze",
                                  conversation_ops.snooze(until), check)

    async def wake_snoozed(self, *, now: datetime | None = None) -> list[str]:
        return await conversation_ops.wake_snoozed(self.db, now=now, on_commit=self.on_commit)

    async def set_watching(self, conversation_id: str, agent: str, watching: bool, *,
                           actor: Actor, check: Check | None = None) -> list[str]:
        return await conversation_ops.set_watching(
            self.db, conversation_id, agent, watching, actor, check=check,
            on_commit=self.on_commit)

    async def list_watchers(self, conversation_id: str) -> list[str]:
        return await conversation_ops.list_watchers(self.db, conversation_id)

    async def search_conversations(
        self, filters: ConversationFilter, *, visibility: Visibility | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page[Conversation]:
        return await conversation_search.search_conversations(
            self.db, filters, visibility=visibility, limit=limit, cursor=cursor)

    async def can_see(self, conversation_id: str, visibility: Visibility) -> bool | None:
        return await conversation_search.can_see(self.db, conversation_id, visibility)

    async def list_audit(self, *, target_id: str | None = None, actor: str | None = None,
                         limit: int = 50, cursor: str | None = None) -> Page[AuditEntry]:
        return await audit.list_audit(self.db, target_id=target_id, actor=actor, limit=limit,
                                      cursor=cursor)

    # --- the agent inbox: messages (store/message_ops.py) -------------------------------

    async def get_message(self, message_id: str) -> Message | None:
        return await message_ops.get_message(self.db, message_id)

    async def edit_message(self, message_id: str, parts: Sequence[Part], *, actor: Actor,
                           limits: EditLimits, check: Callable[[Message], None] | None = None
                           ) -> tuple[Message, str]:
        return await message_ops.change_message(self.db, message_id, parts=parts, actor=actor,
                                                limits=limits, check=check,
                                                on_commit=self.on_commit)

    async def recall_message(self, message_id: str, *, actor: Actor, limits: EditLimits,
                             check: Callable[[Message], None] | None = None
                             ) -> tuple[Message, str]:
        return await message_ops.change_message(self.db, message_id, parts=None, actor=actor,
                                                limits=limits, check=check,
                                                on_commit=self.on_commit)

    async def sent_target(self, message: Message,
                          pick: Callable[[list[Identity]], Identity | None]
                          ) -> OutboundMessage | None:
        return await message_ops.sent_target(self.db, self.cipher, message, pick)

    async def set_read_marker(self, agent: str, conversation_id: str,
                              message_id: str) -> ReadMarker:
        marker = await message_ops.set_read_marker(self.db, agent, conversation_id, message_id)
        self._notify()
        return marker

    async def read_markers(self, conversation_id: str) -> list[ReadMarker]:
        return await message_ops.read_markers_of(self.db, conversation_id)

    def _notify(self) -> None:
        if self.on_commit is not None:
            self.on_commit()
