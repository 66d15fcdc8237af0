"""hub.yaml's `bot:` section: which conversations the FAQ bot takes first and when it
answers, offers choices or hands over to a person.

Here rather than in routing.yaml because it is the hub's own worker with its own texts
and thresholds; it refers to routing.yaml's rule names (`rules:`) and categories.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["BotSettings", "BotTexts"]

Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class BotTexts(BaseModel):
    """What the bot says, in one language."""

    model_config = ConfigDict(extra="forbid")

    choose: str  # before the quick-reply buttons of the entries it is unsure between
    not_understood: str
    handover: str
    helpful_prompt: str  # after an answer: "did this help?"
    yes: str  # the buttons of that question
    no: str
    thanks: str  # after "yes"


DEFAULT_TEXTS: dict[str, BotTexts] = {
    "zh": BotTexts(choose="您想问的是以下哪个问题？", not_understood="抱歉，我没有理解您的问题，可以换个说法吗？",
                   handover="正在为您转接人工客服，请稍候。", helpful_prompt="这个回答对您有帮助吗？",
                   yes="有帮助", no="没帮助", thanks="很高兴能帮到您！还有其他问题可以继续问我。"),
    "en": BotTexts(choose="Did you mean one of these?",
                   not_understood="Sorry, I didn't get that. Could you put it another way?",
                   handover="Let me connect you with a person from our team; one moment please.",
                   helpful_prompt="Did this answer help?", yes="Yes", no="No",
                   thanks="Glad I could help! Ask me anything else."),
}


class BotSettings(BaseModel):
    """`bot:` in hub.yaml. Off unless `channels` or `rules` name what it takes."""

    model_config = ConfigDict(extra="forbid")

    #: channel ids whose new conversations the bot takes first
    channels: list[str] = Field(default_factory=list)
    #: routing.yaml rule names: conversations matched by one of them go to the bot first
    rules: list[str] = Field(default_factory=list)
    #: conversations routed to these categories / groups never go to the bot
    skip_categories: list[Word] = Field(default_factory=lambda: ["complaint"])
    skip_groups: list[Word] = Field(default_factory=list)
    #: answer when the best entry's confidence (0..1) reaches this ...
    answer_threshold: float = Field(default=0.45, ge=0, le=1)
    #: ... and its score beats the runner-up's by this share; else offer choices
    margin: float = Field(default=0.4, ge=0, le=1)
    #: offer the entries at or above this confidence as quick replies (2 or 3 of them)
    suggest_threshold: float = Field(default=0.2, ge=0, le=1)
    max_suggestions: int = Field(default=3, ge=2, le=3)
    #: hand over after this many customer messages in a row the bot could not answer
    max_unanswered: int = Field(default=2, ge=1, le=20)
    handover_keywords: list[Word] = Field(default_factory=lambda: [
        "人工", "转人工", "人工客服", "真人", "客服在吗", "agent", "human", "real person",
        "operator", "representative"])
    negative_keywords: list[Word] = Field(default_factory=lambda: [
        "投诉", "差评", "垃圾", "骗子", "太差", "生气", "气死", "退钱", "欺骗", "举报",
        "complaint", "complain", "terrible", "awful", "worst", "scam", "ridiculous",
        "angry", "unacceptable", "lawyer"])
    #: texts per language (zh, en); a language not listed speaks English
    texts: dict[str, BotTexts] = Field(default_factory=lambda: dict(DEFAULT_TEXTS))

    @property
    def enabled(self) -> bool:
        return bool(self.channels or self.rules)

    def texts_for(self, language: str) -> BotTexts:
        return self.texts.get(language) or self.texts.get("en") or DEFAULT_TEXTS["en"]
