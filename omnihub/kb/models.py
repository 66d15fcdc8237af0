"""The knowledge base's values: an entry as stored and as written, its versions, a hit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = ["Entry", "EntryChange", "EntryIn", "EntryVersion", "Link", "ScoredEntry"]

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16384)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
VariantKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Link(BaseModel):
    """A guide the answer points to (a help-centre page, a size chart)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]


class EntryIn(BaseModel):
    """An entry as an editor writes it (API body, one item of an import file).

    `variants` maps a channel type (`sms`, `telegram`) or a channel id to the answer to
    send there instead, e.g. a shorter one for SMS.
    """

    model_config = ConfigDict(extra="forbid")

    question: Question
    answer: Answer
    paraphrases: list[Question] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    language: Language | None = None
    variants: dict[VariantKey, Answer] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list, max_length=20)

    @field_validator("paraphrases", "tags")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class EntryChange(BaseModel):
    """A partial change; the fields given replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    question: Question | None = None
    answer: Answer | None = None
    paraphrases: list[Question] | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    language: Language | None = None
    variants: dict[VariantKey, Answer] | None = None
    links: list[Link] | None = Field(default=None, max_length=20)


class Entry(EntryIn):
    """A stored entry: what was written plus its bookkeeping."""

    model_config = ConfigDict(extra="ignore")

    id: str
    version: int
    helpful: int = 0
    unhelpful: int = 0
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime

    def answer_for(self, channel_id: str | None = None, channel_type: str | None = None) -> str:
        """The channel's own variant when there is one (by channel id, then type)."""
        for key in (channel_id, channel_type):
            if key and key in self.variants:
                return self.variants[key]
        return self.answer

    def editable(self) -> dict[str, Any]:
        """The fields an export writes and an import reads."""
        return EntryIn.model_validate(self.model_dump(include=set(EntryIn.model_fields))
                                      ).model_dump(mode="json")


class EntryVersion(BaseModel):
    entry_id: str
    version: int
    action: str
    actor: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


class ScoredEntry(BaseModel):
    """A search hit. `score` is BM25 re-weighted by feedback (comparable within one
    search); `confidence` (0..1) is the share of the question's term weight this entry's
    best phrasing covers, which is what the bot's threshold compares against."""

    entry: Entry
    answer: str = Field(description="the entry's answer, or its variant for the channel asked")
    score: float
    confidence: float
    matched: str = Field(description="the question or paraphrase that matched best")
