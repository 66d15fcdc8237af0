"""An agent answers a phone conversation through the API: refused by default, an SMS with
its delivery receipt when the channel has `sms_reply: true`."""

from __future__ import annotations

import asyncio
from typing import Any

from voice_support import CALLER, NUMBER, PUBLIC_URL, FakeTwilio, VoiceHub

from omnihub.store.tokens import create_token


async def reply(voice_hub: VoiceHub, text: str) -> dict[str, Any]:
    [call] = await voice_hub.messages()
    token = await create_token(voice_hub.hub.db, "li.na", "agent")
    resp = await voice_hub.http.post(
        f"/api/v1/conversations/{call['conversation_id']}/messages", json={"text": text},
        headers={"Authorization": f"Bearer {token}"})
    assert resp.status < 300, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def until_status(voice_hub: VoiceHub, message_id: str, status: str) -> Any:
    async with asyncio.timeout(10):
        while (message := await voice_hub.hub.store.get_message(message_id)).status != status:
            await asyncio.sleep(0.02)
    return message


async def test_a_reply_goes_out_as_sms_and_its_receipt_is_applied(
        make_voice_hub, twilio_api: FakeTwilio) -> None:
    voice_hub: VoiceHub = await make_voice_hub(sms_reply=True)
    await voice_hub.post("incoming_call__ringing")

    sent = await reply(voice_hub, "Your refund is on its way.")
    message = await until_status(voice_hub, sent["id"], "sent")

    [sms] = twilio_api.sent
    assert (sms["To"], sms["From"], sms["Body"]) == (CALLER, NUMBER, "Your refund is on its way.")
    assert sms["StatusCallback"] == f"{PUBLIC_URL}/webhooks/phone?event=sms_status"
    assert message.external_id == "SM00000000000000000000000000000001"

    receipt = await voice_hub.post("sms_status__delivered")

    assert receipt.status == 200 and (await receipt.json())["receipts"] == [sent["id"]]
    await until_status(voice_hub, sent["id"], "delivered")


async def test_without_sms_reply_the_reply_fails_with_a_clear_error(
        voice_hub: VoiceHub, twilio_api: FakeTwilio) -> None:
    await voice_hub.post("incoming_call__ringing")

    sent = await reply(voice_hub, "Call me back?")

    await until_status(voice_hub, sent["id"], "failed")
    assert twilio_api.sent == []
