"""The store: SQL tables and the repository API (see facade.Store)."""

from __future__ import annotations

from omnihub.store.errors import (
    IngestFailed,
    InvalidCursor,
    InvalidReply,
    MergeError,
    NoRecipient,
    NotFound,
    StoreBusy,
    StoreClosed,
)
from omnihub.store.facade import Store
from omnihub.store.ingest import IngestResult
from omnihub.store.paging import Page

__all__ = [
    "IngestFailed",
    "IngestResult",
    "InvalidCursor",
    "InvalidReply",
    "MergeError",
    "NoRecipient",
    "NotFound",
    "Page",
    "Store",
    "StoreBusy",
    "StoreClosed",
]
