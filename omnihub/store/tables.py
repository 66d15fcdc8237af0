"""The tables: the one storage schema shared by SQLite, PostgreSQL and MySQL/MariaDB.

Migrations (store/migrations) are generated from this module; never edit a table here
without adding a migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from omnihub.store.types import ID, UTCDateTime

# MySQL/MariaDB compare strings case-insensitively under their default collation, which
# would make external ids, Message-IDs and blind indexes collide; pin a binary one.
MYSQL_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("display_name", sa.String(255)),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("merged_into", ID()),  # set while this customer is merged away
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# An address is stored only encrypted (address_enc); lookups go through blind_index,
# a keyed HMAC of "kind:address", so a dump of the database shows no address in clear.
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("customer_id", ID(), sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("blind_index", sa.String(64), nullable=False),
    sa.Column("address_enc", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("kind", "blind_index"),
    **MYSQL_OPTIONS,
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("customer_id", ID(), sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("channel_id", sa.String(64), nullable=False, index=True),
    sa.Column("channel_type", sa.String(32), nullable=False),
    sa.Column("thread_key", sa.String(255)),
    # "<customer_id>|<channel_id>|<thread_key>" while open, NULL once resolved/closed: a
    # unique index on it means one open conversation per customer and thread, on every DB.
    sa.Column("open_key", sa.String(360), unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("category", sa.String(64)),
    sa.Column("skill_group", sa.String(64), index=True),
    sa.Column("assignee", sa.String(64), index=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("first_response_due", UTCDateTime),
    sa.Column("next_response_due", UTCDateTime),
    sa.Column("resolution_due", UTCDateTime),
    sa.Column("first_response_at", UTCDateTime),
    sa.Column("waiting_since", UTCDateTime),
    sa.Column("last_message_at", UTCDateTime, nullable=False),
    sa.Column("csat", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("closed_at", UTCDateTime),
    # Added by 0002_inbox: a snoozed conversation wakes at snoozed_until; escalation
    # level 0 is not escalated, each escalate() raises it by one.
    sa.Column("snoozed_until", UTCDateTime),
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_conversations_status_last", "status", "last_message_at", "id"),
    **MYSQL_OPTIONS,
)

# The raw provider payload, bounded and encrypted (it carries addresses in clear).
raw_payloads = sa.Table(
    "raw_payloads",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("channel_id", sa.String(64), nullable=False),
    sa.Column("content_type", sa.String(128)),
    # MEDIUMTEXT on MySQL: TEXT stops at 64 KiB, and a sealed 64 KiB payload is ~87 KiB.
    sa.Column("body_enc", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
              nullable=False),
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID(), primary_key=True),  # ULID: id order is creation order
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("customer_id", ID(), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("channel_id", sa.String(64), nullable=False),
    sa.Column("channel_type", sa.String(32), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("author", sa.String(80), nullable=False),
    # Idempotent ingest (DESIGN invariant 2): a provider event is stored once per channel.
    sa.Column("external_id", sa.String(255)),
    sa.Column("reply_to", ID()),
    sa.Column("parts", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("edited_at", UTCDateTime),
    sa.Column("recalled_at", UTCDateTime),
    sa.Column("private", sa.Boolean, nullable=False),
    sa.Column("raw_ref", ID()),
    # A client-supplied key on agent sends: a retried POST never sends twice.
    sa.Column("idempotency_key", sa.String(128)),
    # Machine-sent mail (auto_reply, bounce, list; 0011): shown, never answered automatically.
    sa.Column("automated", sa.String(16)),
    sa.UniqueConstraint("channel_id", "direction", "external_id"),
    sa.UniqueConstraint("conversation_id", "idempotency_key"),
    sa.Index("ix_messages_customer_id_id", "customer_id", "id"),
    sa.Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    **MYSQL_OPTIONS,
)

# Transactional outbox (DESIGN invariant 3): written in the same transaction as the
# change that caused it. topic "event" rows are also the event log that SSE replays from
# (Last-Event-ID = seq); topic "delivery" rows are outbound messages for a channel.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("id", ID(), nullable=False, unique=True),
    sa.Column("topic", sa.String(32), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("key", sa.String(64)),  # ordering key: the conversation id
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# The outbox rows the dispatcher still owes the bus: one integer per row, inserted in the
# same transaction and deleted once the bus has the row. Marking a row dispatched then
# deletes a tiny row instead of rewriting the outbox row (JSON payload and all).
outbox_pending = sa.Table(
    "outbox_pending",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=False),
    **MYSQL_OPTIONS,
)

# Durable retries and the dead-letter list: a consumer that fails on an event leaves a
# row here; the retry worker runs it again with exponential backoff until it succeeds or
# runs out of attempts (status "dead"), and `omnihub dead-letters replay` revives it.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("consumer", sa.String(64), nullable=False),
    sa.Column("event_id", ID(), nullable=False),
    sa.Column("key", sa.String(64)),
    sa.Column("topic", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # retry | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("consumer", "event_id"),
    sa.Index("ix_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    **MYSQL_OPTIONS,
)

# Customer merges, recorded with everything they moved so that a merge can be undone.
merges = sa.Table(
    "merges",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("source_id", ID(), nullable=False, index=True),
    sa.Column("target_id", ID(), nullable=False, index=True),
    sa.Column("moved", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("undone_at", UTCDateTime),
    **MYSQL_OPTIONS,
)

# Agent API tokens: only the SHA-256 of the token is kept.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("agent", sa.String(80), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    **MYSQL_OPTIONS,
)

# Leases: exactly one process runs a singleton worker (dispatcher, SLA timers, pollers).
# `token` is a fencing token that grows with every new holder.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)


# --- the agent inbox (0002_inbox) -----------------------------------------------------

# Who changed what, when: every state-changing API call, with the target's state before
# and after, written in the same transaction as the change itself.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", ID(), primary_key=True),  # ULID: id order is time order
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_audit_log_target_id_id", "target_id", "id"),
    **MYSQL_OPTIONS,
)

# Agents following a conversation outside their own groups (logistics, tech support).
conversation_watchers = sa.Table(
    "conversation_watchers",
    metadata,
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), primary_key=True),
    sa.Column("agent", sa.String(80), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_conversation_watchers_agent", "agent"),
    **MYSQL_OPTIONS,
)

# How far each agent has read each conversation; message ids are ULIDs, so "up to" is a
# string comparison and a marker only ever moves forward.
read_markers = sa.Table(
    "read_markers",
    metadata,
    sa.Column("agent", sa.String(80), primary_key=True),
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), primary_key=True),
    sa.Column("message_id", ID(), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# Agent edits and recalls of their own messages: the content before each change, so the
# edit window's count is a COUNT and nothing an agent wrote is ever lost.
message_edits = sa.Table(
    "message_edits",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("message_id", ID(), sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # edit | recall
    sa.Column("editor", sa.String(80), nullable=False),
    sa.Column("before_parts", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)


# --- routing (0003_routing) ----------------------------------------------------------

# Whether an agent takes new work: online / away / offline, set through the API. An
# agent with no row is offline.
agent_status = sa.Table(
    "agent_status",
    metadata,
    sa.Column("agent", sa.String(80), primary_key=True),
    sa.Column("availability", sa.String(16), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# The round-robin pointer of each skill group: the agent it handed work to last, kept in
# the store so that restarts and several hub processes continue one rotation.
routing_rotation = sa.Table(
    "routing_rotation",
    metadata,
    sa.Column("skill_group", sa.String(64), primary_key=True),
    sa.Column("last_agent", sa.String(80), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# SLA breaches and escalation steps already fired, one row each: the primary key is what
# makes every breach and step fire once, whichever process gets there first.
sla_fired = sa.Table(
    "sla_fired",
    metadata,
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), primary_key=True),
    sa.Column("key", sa.String(160), primary_key=True),  # breach:<metric>[@due] | step:<name>
    sa.Column("fired_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)


# --- canned replies (0004_canned_replies) --------------------------------------------

# Answers agents insert by shortcut (`/refund`); `body` holds {{variables}} checked when
# saved and filled from the customer and the conversation when sent.
canned_replies = sa.Table(
    "canned_replies",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("shortcut", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(255)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)


# --- customer profiles (0008_profiles) ------------------------------------------------

# Orders the shop pushes (API or signed webhook); (customer, order id) is the key, so a
# second push of the same order updates it. `total` is decimal text: exact on every
# backend (SQLite has no exact decimal type), summed in Python by the tag rules.
customer_orders = sa.Table(
    "customer_orders",
    metadata,
    sa.Column("customer_id", ID(), sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("order_id", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total", sa.String(40), nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("placed_at", UTCDateTime, nullable=False),
    sa.Column("shop_updated_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_customer_orders_customer_id_placed_at", "customer_id", "placed_at"),
    **MYSQL_OPTIONS,
)

# Tags derived by the rules of customer_tags.yaml, kept apart from the tags agents set
# (customers.tags) so that a recompute never removes a manual tag. `recheck_at` is when
# the first counted fact leaves its rule's time window: the clock recomputes from there.
customer_profiles = sa.Table(
    "customer_profiles",
    metadata,
    sa.Column("customer_id", ID(), sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("derived_tags", sa.JSON, nullable=False),
    sa.Column("facts", sa.JSON, nullable=False),
    sa.Column("rules_sha256", sa.String(64)),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    sa.Column("recheck_at", UTCDateTime, index=True),
    **MYSQL_OPTIONS,
)


# --- knowledge base (0007_kb) ----------------------------------------------------------

# FAQ entries the bot answers from and agents search. `version` counts the changes; each
# change is a kb_entry_versions row (who, when, before and after). `helpful`/`unhelpful`
# are the customers' "did this help?" answers, which re-weight the ranking.
kb_entries = sa.Table(
    "kb_entries",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("question", sa.String(500), nullable=False),
    sa.Column("paraphrases", sa.JSON, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("language", sa.String(16)),  # None: any language
    sa.Column("variants", sa.JSON, nullable=False),  # channel type or id -> answer
    sa.Column("links", sa.JSON, nullable=False),  # [{title, url}]
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("helpful", sa.Integer, nullable=False),
    sa.Column("unhelpful", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("updated_by", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# Every change of an entry, kept after the entry is deleted.
kb_entry_versions = sa.Table(
    "kb_entry_versions",
    metadata,
    sa.Column("entry_id", ID(), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(16), nullable=False),  # create | update | delete | import
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# One row per phrasing (the question and each paraphrase), as segmented index terms
# separated by spaces. The full-text index over `terms` is dialect-specific and lives in
# the migration only: an FTS5 table kept in step by triggers on SQLite, a GIN index over
# array_to_tsvector on PostgreSQL, none on MySQL (see omnihub/kb/fts.py).
kb_phrases = sa.Table(
    "kb_phrases",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("entry_id", ID(), sa.ForeignKey("kb_entries.id"), nullable=False, index=True),
    sa.Column("terms", sa.Text, nullable=False),
    sa.Column("length", sa.Integer, nullable=False),
    **MYSQL_OPTIONS,
)

# The bot's state per conversation it took: answered/unanswered turns, the entries of its
# last answer (for "did this help?"), and why it handed over. The last message id makes a
# redelivered event a no-op.
bot_sessions = sa.Table(
    "bot_sessions",
    metadata,
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # active | handed_over
    sa.Column("last_message_id", ID()),
    sa.Column("unanswered", sa.Integer, nullable=False),
    sa.Column("answered", sa.Integer, nullable=False),
    sa.Column("awaiting", sa.String(16)),  # feedback | choice | None
    sa.Column("entry_ids", sa.JSON, nullable=False),  # last answer's entry, or the offered ones
    sa.Column("reason", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# Quick-reply buttons of the bot's outbound messages, by the message's idempotency key:
# written before the message is queued, so its delivery always finds them.
bot_buttons = sa.Table(
    "bot_buttons",
    metadata,
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), primary_key=True),
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("buttons", sa.JSON, nullable=False),
    **MYSQL_OPTIONS,
)

# Questions the bot could not answer, with the answer an agent then gave: the material
# the learning step clusters into suggested entries and paraphrases.
kb_learning = sa.Table(
    "kb_learning",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("conversation_id", ID(), sa.ForeignKey("conversations.id"), nullable=False,
              unique=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("language", sa.String(16)),
    sa.Column("answer", sa.Text),
    sa.Column("answered_by", sa.String(80)),
    sa.Column("status", sa.String(16), nullable=False),  # open | accepted | rejected
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_kb_learning_status", "status"),
    **MYSQL_OPTIONS,
)


# --- operations: monitoring and alerts (0009_ops) --------------------------------------

# The request id of the HTTP request that wrote an outbox row (omnihub/hub/request_id.py),
# so that the consumer handling the row logs under the same id. Never sent anywhere.
outbox.append_column(sa.Column("request_id", sa.String(64)))

# One row per alert rule of hub.yaml: where its state machine stands (ok, pending,
# firing) and which notices of the current firing or resolve have gone out, so that a
# restart or another process neither sends a notice twice nor forgets one it owed.
alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # ok | pending | firing
    sa.Column("firing_id", ID()),  # the current (or last) firing, for receivers to dedupe
    sa.Column("value", sa.Double()),
    sa.Column("pending_since", UTCDateTime),
    sa.Column("fired_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("owed", sa.String(16)),  # firing | resolved: the notice not yet fully sent
    sa.Column("notified", sa.JSON, nullable=False),  # targets that have the owed notice
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)


# --- e-mail (0005_email) ---------------------------------------------------------------

# How far each IMAP mailbox has been read: the last UID taken in, valid under `uidvalidity`
# (RFC 3501 §2.3.1.1). `fencing_token` is the poller lease's token at the last write: a
# poller that lost its lease cannot move the cursor back under the one that took over.
email_cursors = sa.Table(
    "email_cursors",
    metadata,
    sa.Column("channel_id", sa.String(64), primary_key=True),
    sa.Column("mailbox", sa.String(200), primary_key=True),
    sa.Column("uidvalidity", sa.BigInteger, nullable=False),
    sa.Column("last_uid", sa.BigInteger, nullable=False),
    sa.Column("fencing_token", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)

# One row per mail thread: its id is the ticket number in subjects (`[#42]`).
email_threads = sa.Table(
    "email_threads",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("channel_id", sa.String(64), nullable=False),
    sa.Column("thread_key", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("channel_id", "thread_key"),
    **MYSQL_OPTIONS,
)

# Every Message-ID seen or sent on a channel, and its thread: how In-Reply-To/References
# find a conversation, and where an answer takes its In-Reply-To, References and subject.
email_message_ids = sa.Table(
    "email_message_ids",
    metadata,
    sa.Column("channel_id", sa.String(64), primary_key=True),
    sa.Column("message_id", sa.String(255), primary_key=True),
    sa.Column("thread_key", sa.String(255), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("subject", sa.String(255)),
    sa.Column("ref_chain", sa.JSON, nullable=False),  # its References, oldest first, bounded
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_email_message_ids_channel_id_thread_key", "channel_id", "thread_key"),
    **MYSQL_OPTIONS,
)


# --- operations: staged routing rollout (0009_ops) ------------------------------------

# The sha256 of the routing.yaml version that routed a conversation when it was opened:
# the stable one or, during a canary (omnihub/router/canary.py), the candidate; the stats
# compare the two by it.
conversations.append_column(sa.Column("routing_version", sa.String(64)))


# --- webhook subscriptions made through the API (0010_webhooks) ----------------------

# Endpoints an admin adds at run time, beside the ones in hub.yaml; the signing secret
# is kept encrypted like contact data (store/crypto.py), since it lets anyone forge events.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", ID(), primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret_enc", sa.Text, nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("description", sa.String(255)),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **MYSQL_OPTIONS,
)
