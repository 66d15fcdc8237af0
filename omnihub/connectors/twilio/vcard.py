"""The little of vCard (RFC 6350, and 3.0) a shared WhatsApp contact needs: name, phone, e-mail.

Twilio delivers a contact a customer shares on WhatsApp as a `text/vcard` media file
(MessageType=contacts); the hub shows it as a contact part.
"""

from __future__ import annotations

from omnihub.normalizer.schema import ContactPart

__all__ = ["contact_from_vcard"]

_MAX_BYTES = 64 * 1024


def _unfold(text: str) -> list[str]:
    """Content lines, with folded continuation lines (leading space or tab) joined."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    return lines


def _unescape(value: str) -> str:
    return (value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",")
            .replace("\\;", ";").replace("\\\\", "\\").strip())


def contact_from_vcard(data: bytes) -> ContactPart | None:
    """The first card's formatted name, first phone and first e-mail; None if it has none."""
    if len(data) > _MAX_BYTES:
        return None
    text = data.decode("utf-8", errors="replace")
    found: dict[str, str] = {}
    for line in _unfold(text):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        prop = name.split(";")[0].rpartition(".")[2].upper()  # "item1.TEL;type=CELL"
        if prop == "END":
            break
        key = {"FN": "name", "TEL": "phone", "EMAIL": "email"}.get(prop)
        if key and key not in found and _unescape(value):
            found[key] = _unescape(value)
        if prop == "N" and "n" not in found:
            family, _, rest = value.partition(";")
            given = rest.partition(";")[0]
            found["n"] = _unescape(f"{given} {family}")
    name = found.get("name") or found.get("n") or None
    if not (name or found.get("phone") or found.get("email")):
        return None
    return ContactPart(name=name, phone=found.get("phone"), email=found.get("email"))
