"""The normalizer pipeline every inbound message goes through before the store."""

from __future__ import annotations

import pytest

from omnihub.normalizer.addresses import InvalidAddress
from omnihub.normalizer.media import MediaTooLarge
from omnihub.normalizer.pipeline import (
    BoundText,
    CheckMedia,
    NormalizeIdentities,
    NormalizerPipeline,
    Sanitize,
    default_pipeline,
)
from omnihub.normalizer.schema import (
    CallPart,
    FilePart,
    Identity,
    ImagePart,
    InboundMessage,
    LocationPart,
    MediaRef,
    Part,
    Sender,
    TextPart,
)

SHA = "ab" * 32


def _message(*parts: Part, identities: list[Identity] | None = None) -> InboundMessage:
    return InboundMessage(
        channel_id="web",
        channel_type="api",
        external_id="evt-1",
        sender=Sender(identities=identities or [Identity(kind="api", address="cust-1")]),
        parts=list(parts) or [TextPart(text="hello")],
    )


def _media(size: int) -> MediaRef:
    return MediaRef(sha256=SHA, mime="image/jpeg", size=size, name="p.jpg")


async def test_default_pipeline_end_to_end() -> None:
    msg = _message(
        TextPart(
            text="",
            html='<p onclick="x()">Hi <a href="javascript:x()">there</a></p><script>x</script>',
        ),
        identities=[
            Identity(kind="email", address="Ann@BÜCHER.example", verified=True),
            Identity(kind="phone", address="whatsapp:+1 415 555 2671"),
        ],
    )
    out, warnings = await default_pipeline().run(msg)
    assert out.sender.identities == [
        Identity(kind="email", address="ann@xn--bcher-kva.example", verified=True),
        Identity(kind="phone", address="+14155552671"),
    ]
    assert out.parts == [
        TextPart(text="Hi there", html='<p>Hi <a rel="noopener noreferrer nofollow">there</a></p>')
    ]
    assert warnings == []
    assert msg.sender.identities[0].address == "Ann@BÜCHER.example"  # input left untouched


async def test_bad_secondary_identity_dropped_with_warning() -> None:
    msg = _message(identities=[
        Identity(kind="telegram", address="12345"),
        Identity(kind="email", address="not an email"),
        Identity(kind="phone", address="(415) 555-2671"),
    ])  # fmt: skip
    out, warnings = await default_pipeline(default_region="US").run(msg)
    assert out.sender.identities == [
        Identity(kind="telegram", address="12345"),
        Identity(kind="phone", address="+14155552671"),
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("normalize_identities: dropped sender identity #2")
    assert "not an email" not in warnings[0]  # no personal data in logs


async def test_bad_primary_identity_rejects_the_message() -> None:
    msg = _message(identities=[
        Identity(kind="phone", address="12"),
        Identity(kind="email", address="ann@example.com"),
    ])  # fmt: skip
    with pytest.raises(InvalidAddress, match="invalid phone address"):
        await default_pipeline().run(msg)


async def test_identities_equal_after_normalizing_collapse() -> None:
    msg = _message(identities=[
        Identity(kind="email", address="ann@example.com"),
        Identity(kind="email", address="ANN@Example.com"),
        Identity(kind="phone", address="+14155552671"),
        Identity(kind="phone", address="tel:+1-415-555-2671"),
    ])  # fmt: skip
    out, _ = await NormalizerPipeline([NormalizeIdentities()]).run(msg)
    assert [i.address for i in out.sender.identities] == ["ann@example.com", "+14155552671"]


def test_bad_default_region_fails_when_the_pipeline_is_built() -> None:
    with pytest.raises(ValueError, match="unknown default phone region"):
        default_pipeline(default_region="USA")


async def test_text_is_bounded_with_a_warning() -> None:
    msg = _message(TextPart(text="é" * 10), ImagePart(media=_media(10), caption="x" * 9))
    out, warnings = await default_pipeline(max_text_bytes=8).run(msg)
    assert out.parts[0] == TextPart(text="é" * 4)
    assert isinstance(out.parts[1], ImagePart) and out.parts[1].caption == "x" * 8
    assert warnings == [
        "bound_text: part #1 text truncated to 8 bytes",
        "bound_text: part #2 caption truncated to 8 bytes",
    ]


async def test_text_within_bound_is_untouched() -> None:
    msg = _message(TextPart(text="12345678"))
    out, warnings = await default_pipeline(max_text_bytes=8).run(msg)
    assert out.parts == msg.parts
    assert warnings == []


async def test_html_is_cut_then_resanitized_so_no_broken_tag_survives() -> None:
    html = "<p>" + "word " * 20 + '<a href="https://shop.example/very/long/path">link</a></p>'
    msg = _message(TextPart(text="plain", html=html))
    out, warnings = await NormalizerPipeline([Sanitize(), BoundText(max_bytes=120)]).run(msg)
    part = out.parts[0]
    assert isinstance(part, TextPart) and part.html is not None
    assert len(part.html.encode()) <= 120
    assert part.html.startswith("<p>word word") and part.html.endswith("</p>")
    assert "<a href" not in part.html or "</a>" in part.html
    assert warnings == ["bound_text: part #1 html truncated to 120 bytes"]


async def test_html_cut_leaves_room_for_the_closing_tags() -> None:
    html = "<b><i><b><i>" + "x" * 100
    out, warnings = await NormalizerPipeline([BoundText(max_bytes=30)]).run(
        _message(TextPart(text="x", html=html))
    )
    assert out.parts == [TextPart(text="x", html="<b><i><b><i>xx</i></b></i></b>")]
    assert warnings == ["bound_text: part #1 html truncated to 30 bytes"]


async def test_html_is_dropped_when_only_empty_markup_fits() -> None:
    html = '<a href="https://shop.example/a/long/path">' + "x" * 100 + "</a>"
    out, warnings = await NormalizerPipeline([BoundText(max_bytes=16)]).run(
        _message(TextPart(text="x", html=html))
    )
    assert out.parts == [TextPart(text="x", html=None)]
    assert warnings == ["bound_text: part #1 html dropped, over 16 bytes"]


async def test_text_from_html_is_bounded_after_it_is_rendered() -> None:
    msg = _message(TextPart(text="", html="<p>" + "a" * 100 + "</p>"))
    out, warnings = await default_pipeline(max_text_bytes=50).run(msg)
    part = out.parts[0]
    assert isinstance(part, TextPart)
    assert part.text == "a" * 50
    assert "bound_text: part #1 text truncated to 50 bytes" in warnings


async def test_sanitize_keeps_given_text_and_drops_empty_html() -> None:
    msg = _message(TextPart(text="the customer's own text", html="<script>only script</script>"))
    out, _ = await NormalizerPipeline([Sanitize()]).run(msg)
    assert out.parts == [TextPart(text="the customer's own text", html=None)]


async def test_oversized_media_part_is_dropped_with_warning() -> None:
    msg = _message(
        TextPart(text="see attached"),
        ImagePart(media=_media(101)),
        FilePart(media=_media(100)),
        ImagePart(url="https://provider.example/media/1"),  # not downloaded yet: no size
    )
    out, warnings = await default_pipeline(max_media_bytes=100).run(msg)
    assert [p.kind for p in out.parts] == ["text", "file", "image"]
    assert warnings == ["check_media: part #2 image of 101 bytes dropped, over 100 bytes"]


async def test_call_keeps_its_metadata_without_an_oversized_recording() -> None:
    call = CallPart(status="voicemail", duration=30, recording=_media(500), transcript="hi")
    msg = _message(call)
    out, warnings = await NormalizerPipeline([CheckMedia(max_bytes=100)]).run(msg)
    assert out.parts == [CallPart(status="voicemail", duration=30, recording=None, transcript="hi")]
    assert warnings == ["check_media: part #1 recording of 500 bytes dropped, over 100 bytes"]


async def test_message_of_only_oversized_media_is_rejected() -> None:
    msg = _message(ImagePart(media=_media(1000)), FilePart(media=_media(2000)))
    with pytest.raises(MediaTooLarge) as info:
        await NormalizerPipeline([CheckMedia(max_bytes=100)]).run(msg)
    assert (info.value.size, info.value.max_bytes) == (2000, 100)


async def test_parts_without_text_or_media_pass_through() -> None:
    location = LocationPart(latitude=52.52, longitude=13.405, title="Store")
    out, warnings = await default_pipeline().run(_message(location))
    assert out.parts == [location]
    assert warnings == []


async def test_custom_steps_run_in_order_and_share_warnings() -> None:
    calls: list[str] = []

    async def first(msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        calls.append("first")
        warnings.append("first ran")
        return msg.model_copy(update={"thread_key": "t-1"})

    async def second(msg: InboundMessage, warnings: list[str]) -> InboundMessage:
        calls.append(f"second saw {msg.thread_key}")
        return msg

    out, warnings = await NormalizerPipeline([first, second]).run(_message())
    assert calls == ["first", "second saw t-1"]
    assert out.thread_key == "t-1"
    assert warnings == ["first ran"]


def test_default_pipeline_steps() -> None:
    steps = default_pipeline(max_text_bytes=1000, default_region="DE", max_media_bytes=5).steps
    assert [step.name for step in steps] == [  # type: ignore[attr-defined]
        "normalize_identities",
        "sanitize",
        "bound_text",
        "check_media",
    ]
    assert steps[0] == NormalizeIdentities(default_region="DE")
    assert steps[2] == BoundText(max_bytes=1000)
    assert steps[3] == CheckMedia(max_bytes=5)
