"""Which conversation a mail belongs to: headers first, then the ticket token.

Order of evidence, strongest first:

1. ``In-Reply-To``, then ``References`` from the newest to the oldest (RFC 5322 §3.6.4):
   the Message-IDs of earlier mails of the thread, which the store knows because it keeps
   every inbound and outbound Message-ID. A reply whose subject the customer rewrote
   still carries them, so it stays in its thread.
2. The ticket token every outgoing mail carries in its subject (``[#123]`` by default,
   the prefix is configurable, :func:`subject_with_token`): for clients that drop the
   headers (some webmailers, "reply" from a phone's share sheet).

There is deliberately no subject-only matching: two customers writing "Order problem"
are two conversations. A token is a claim by the sender, so the store should accept it
only when the conversation belongs to the same customer (or the same mailbox), otherwise
anyone could post into someone else's ticket by typing its number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_TOKEN_PREFIX",
    "ThreadCandidate",
    "find_token",
    "normalize_subject",
    "parse_message_ids",
    "resolve_thread",
    "root_message_id",
    "strip_token",
    "subject_with_token",
    "thread_candidates",
]

DEFAULT_TOKEN_PREFIX = "#"
_TOKEN_VALUE = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")

# Reply and forward prefixes of the mail clients our customers use: English, German (AW,
# WG), Nordic (SV, VS), Dutch (Antw), French (TR, RE), Spanish (RV), Polish (Odp), and
# Chinese (回复, 答复, 回覆, 转发, 轉寄, 轉發), with a full-width colon where Chinese
# clients write one, and counters like "Re[2]:" or "Re^2:".
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|antw|tr|rv|odp|enc|ynt|res|回复|回覆|答复|答覆|转发|轉發|轉寄)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")


def _token_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[\s*" + re.escape(prefix) + r"\s*(" + _TOKEN_VALUE + r")\s*\]")


def find_token(subject: str, prefix: str = DEFAULT_TOKEN_PREFIX) -> str | None:
    """Return the ticket token in ``subject`` (``"Re: late [#123]"`` -> ``"123"``), or None.

    The last token wins: a forward of a forward may carry several, and mail clients
    append, so the newest is at the end.
    """
    if not prefix:
        raise ValueError("the ticket token prefix must not be empty")
    found = _token_pattern(prefix).findall(subject or "")
    return found[-1] if found else None


def strip_token(subject: str, prefix: str = DEFAULT_TOKEN_PREFIX) -> str:
    """Return ``subject`` without its ticket tokens, whitespace collapsed."""
    return _WHITESPACE.sub(" ", _token_pattern(prefix).sub(" ", subject or "")).strip()


def subject_with_token(subject: str, token: str, prefix: str = DEFAULT_TOKEN_PREFIX) -> str:
    """Return the subject for an outgoing mail: ``subject`` with ``[<prefix><token>]``.

    Idempotent (a reply to a reply does not grow a second token), and a different token
    already in the subject is replaced, so the customer's client quotes back only ours.
    """
    if not re.fullmatch(_TOKEN_VALUE, token):
        raise ValueError(f"ticket token must match {_TOKEN_VALUE!r}")
    if find_token(subject, prefix) == token and len(_token_pattern(prefix).findall(subject)) == 1:
        return subject
    base = strip_token(subject, prefix)
    tag = f"[{prefix}{token}]"
    return f"{base} {tag}" if base else tag


def normalize_subject(subject: str, prefix: str | None = DEFAULT_TOKEN_PREFIX) -> str:
    """Return ``subject`` without reply/forward prefixes (``Re: AW: 回复：``), without the
    ticket token (unless ``prefix`` is None), whitespace collapsed: for display and search,
    never for threading."""
    value = _WHITESPACE.sub(" ", subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    if prefix is not None:
        value = strip_token(value, prefix)
    return value


def parse_message_ids(value: str | None) -> list[str]:
    """Return the Message-IDs in a ``References``/``In-Reply-To`` value, without ``<>``.

    Tolerates what real clients write: missing brackets, commas, comments, duplicates.
    """
    if not value:
        return []
    ids = _MESSAGE_ID.findall(value)
    if not ids:
        ids = [word.strip("<>,;\"'") for word in value.split() if "@" in word]
    seen: set[str] = set()
    unique = []
    for mid in ids:
        if mid and mid not in seen:
            seen.add(mid)
            unique.append(mid)
    return unique


@dataclass(frozen=True, slots=True)
class ThreadCandidate:
    """One piece of evidence for a thread: a Message-ID the store may know, or a token."""

    kind: Literal["message_id", "token"]
    value: str


def thread_candidates(
    *,
    in_reply_to: str | None,
    references: Iterable[str],
    ticket_token: str | None,
    own_message_id: str | None = None,
) -> list[ThreadCandidate]:
    """Return the lookups to try, strongest first: In-Reply-To, References newest first,
    then the ticket token. The mail's own Message-ID is never a candidate (a resent copy
    is a duplicate, which dedupe handles, not a thread)."""
    ordered: list[ThreadCandidate] = []
    seen: set[str] = set()
    for mid in [in_reply_to, *reversed(list(references))]:
        if mid and mid != own_message_id and mid not in seen:
            seen.add(mid)
            ordered.append(ThreadCandidate("message_id", mid))
    if ticket_token:
        ordered.append(ThreadCandidate("token", ticket_token))
    return ordered


def resolve_thread(
    candidates: Iterable[ThreadCandidate],
    by_message_id: Callable[[str], str | None],
    by_token: Callable[[str], str | None],
) -> str | None:
    """Return the first conversation the lookups find for ``candidates``, or None (a new
    conversation). The lookups are the store's; this only fixes their precedence."""
    for candidate in candidates:
        lookup = by_message_id if candidate.kind == "message_id" else by_token
        found = lookup(candidate.value)
        if found is not None:
            return found
    return None


def root_message_id(references: list[str], in_reply_to: str | None, own: str) -> str:
    """The Message-ID that started the thread as far as this mail knows: the first
    Reference (clients keep it when they trim the list), else In-Reply-To, else its own."""
    if references:
        return references[0]
    return in_reply_to or own
