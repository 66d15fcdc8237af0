"""Settings of a phone channel (`type: twilio_voice`): the account, the IVR menu, and
what happens to a caller inside and outside business hours."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omnihub.connectors.twilio.settings import TwilioSettings

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

#: Twilio transcribes recordings of 2 to 120 seconds only (error 13617)
MAX_VOICEMAIL_SECONDS = 120


class MenuOption(BaseModel):
    """One IVR choice: a key to press (or words to say) and the routing.yaml group it reaches."""

    model_config = ConfigDict(extra="forbid")

    #: the key(s) the caller presses, e.g. "1"
    digits: str = Field(pattern=r"^[0-9*#]{1,4}$")
    #: a group of routing.yaml (`groups:`); `omnihub check-config` checks the name
    group: str = Field(min_length=1)
    #: what the menu says for this option, e.g. "For returns and refunds, press 1."
    say: str = Field(min_length=1, max_length=400)
    #: words that pick this option by speech (the group name always does)
    speech: list[str] = []
    #: enqueue: wait in the group's Twilio queue until an agent takes the call;
    #: dial: ring the group's agents' phones (`agent_phones`) at once. Default: the channel's
    connect: Literal["enqueue", "dial"] | None = None


class TwilioVoiceSettings(TwilioSettings):
    type: Literal["twilio_voice"] = "twilio_voice"
    #: said once when the call is answered, before the menu
    greeting: str = Field(default="Thank you for calling.", max_length=400)
    #: the IVR; with no options every caller goes to `default_group`
    menu: list[MenuOption] = []
    #: where a caller goes who chooses nothing (None: straight to voicemail)
    default_group: str | None = None
    #: how many times the menu is played before falling back to `default_group`
    menu_attempts: int = Field(default=2, ge=1, le=5)
    #: seconds the menu waits for a key or speech
    gather_timeout_seconds: int = Field(default=6, ge=1, le=30)
    #: language of <Say> and of speech recognition (a Twilio language code)
    language: str = Field(default="en-US", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    #: a Twilio <Say> voice such as "Polly.Joanna"; None: Twilio's default
    voice: str | None = None
    #: how an option connects the caller, unless the option says otherwise
    connect: Literal["enqueue", "dial"] = "enqueue"
    #: phone numbers of routing.yaml agents (agent id -> E.164), rung by `connect: dial`
    agent_phones: dict[str, str] = {}
    #: seconds <Dial> rings the agents before the caller goes to voicemail
    dial_timeout_seconds: int = Field(default=20, ge=5, le=600)
    #: seconds a caller waits in a queue before being offered voicemail
    queue_timeout_seconds: int = Field(default=180, ge=10, le=3600)
    #: said while the caller waits in a queue (repeated)
    hold_message: str = Field(default="All our agents are busy. Please stay on the line.",
                              max_length=400)
    #: said before the beep outside business hours or when nobody answers
    voicemail_prompt: str = Field(
        default="Sorry, nobody can take your call right now. Please leave a message after "
                "the tone, and we will call you back.", max_length=400)
    #: longest voicemail, in seconds (Twilio transcribes up to 120 s)
    voicemail_max_seconds: int = Field(default=MAX_VOICEMAIL_SECONDS, ge=5,
                                       le=MAX_VOICEMAIL_SECONDS)
    #: transcribe voicemail through Twilio (English and Spanish only, billed per minute)
    transcribe: bool = True
    #: said after the recording, before hanging up
    goodbye: str = Field(default="Thank you. Goodbye.", max_length=400)
    #: an agent's reply on a call conversation goes out as an SMS from `from`;
    #: false: such a reply is refused (a call cannot carry text)
    sms_reply: bool = False

    @field_validator("from_")
    @classmethod
    def _e164_sender(cls, value: str) -> str:
        if not E164.fullmatch(value):
            raise ValueError("a phone channel's `from` is its E.164 number, e.g. +14155550100")
        return value

    @field_validator("agent_phones")
    @classmethod
    def _e164_agents(cls, value: dict[str, str]) -> dict[str, str]:
        for agent, number in value.items():
            if not E164.fullmatch(number):
                raise ValueError(f"agent {agent!r}: {number!r} is not an E.164 number "
                                 "like +8613800138000")
        return value

    @model_validator(mode="after")
    def _distinct_digits(self) -> TwilioVoiceSettings:
        seen: set[str] = set()
        for option in self.menu:
            if option.digits in seen:
                raise ValueError(f"menu: digits {option.digits!r} are used twice")
            seen.add(option.digits)
        return self

    def groups(self) -> list[str]:
        """Every routing.yaml group this channel names, in config order."""
        named = [option.group for option in self.menu]
        if self.default_group is not None:
            named.append(self.default_group)
        return list(dict.fromkeys(named))

    def option_for(self, digits: str | None, speech: str | None) -> MenuOption | None:
        """The menu option a caller chose by key or by voice; None when nothing matched."""
        if digits:
            found = next((o for o in self.menu if o.digits == digits), None)
            if found is not None:
                return found
        said = (speech or "").casefold()
        if said:
            for option in self.menu:
                words = [option.group.replace("-", " ").replace("_", " "), *option.speech]
                if any(word.casefold() in said for word in words if word):
                    return option
        return None

    def connect_for(self, option: MenuOption | None) -> Literal["enqueue", "dial"]:
        return option.connect if option is not None and option.connect else self.connect
