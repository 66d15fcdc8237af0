"""One pass over a message finds every keyword of every rule (Aho-Corasick).

Rules are matched by literals: the keywords operators write, and for each regular
expression the literal text any match of it must contain (`order\\s*#?\\d+` cannot match
without "order"). A rule whose literals do not occur in the text cannot match, so only the
few rules with hits are looked at; this keeps routing cost flat as rules are added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import ahocorasick

def fold(text: str) -> str:
    """Case-insensitive normal form used on both keywords and message text.

    Dotless ı is the one letter re.IGNORECASE equates with i that casefold() keeps apart.
    """
    folded = text.casefold()
    return folded.replace("ı", "i") if "ı" in folded else folded


class LiteralIndex:
    """An Aho-Corasick automaton over folded literals; `hits` gives the ids present in a text."""

    def __init__(self, literals: Iterable[str]) -> None:
        self._ids: dict[str, int] = {}
        self._automaton: Any = ahocorasick.Automaton()
        for literal in literals:
            key = fold(literal)
            if key and key not in self._ids:
                self._ids[key] = len(self._ids)
                self._automaton.add_word(key, self._ids[key])
        if self._ids:
            self._automaton.make_automaton()

    def id_of(self, literal: str) -> int:
        return self._ids[fold(literal)]

    def __len__(self) -> int:
        return len(self._ids)

    def hits(self, folded_text: str) -> set[int]:
        """Ids of the literals occurring in an already folded text (overlaps included)."""
        if not self._ids or not folded_text:
            return set()
        return {literal_id for _, literal_id in self._automaton.iter(folded_text)}


# ------------------------------------------------------------ literals a regex requires

try:  # the stdlib's own regex parser; private, so any surprise just disables the shortcut
    import re._constants as _sre
    import re._parser as _sre_parser
except ImportError:  # pragma: no cover - other Python versions
    _sre = _sre_parser = None  # type: ignore[assignment]


def required_literals(pattern: str, flags: int = re.IGNORECASE) -> frozenset[str] | None:
    """Literals of which every match must contain at least one, or None if there are none.

    Only ever an over-approximation of a match: it decides which regexes to run, never
    whether they match.
    """
    if _sre_parser is None:
        return None
    try:
        tree = _sre_parser.parse(pattern, flags)
        found = _required(list(tree))
    except Exception:  # noqa: BLE001 - an unexpected parse tree just means "always run it"
        return None
    if found is None or not all(found):
        return None
    return frozenset(fold(literal) for literal in found)


def _score(candidate: frozenset[str]) -> tuple[int, int]:
    """Prefer the literal set whose shortest member is longest, then the smaller set."""
    return min(len(x) for x in candidate), -len(candidate)


def _required(items: Sequence[tuple[Any, Any]]) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(candidate: frozenset[str] | None) -> None:
        nonlocal best
        if candidate and all(candidate) and (best is None or _score(candidate) > _score(best)):
            best = candidate

    for op, arg in items:
        if op is _sre.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            consider(frozenset({"".join(run)}))
            run = []
        if op is _sre.SUBPATTERN:
            consider(_required(list(arg[3])))
        elif op is _sre.ATOMIC_GROUP:
            consider(_required(list(arg)))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
            low, _high, body = arg
            if low >= 1:
                consider(_required(list(body)))
        elif op is _sre.BRANCH:
            alternatives = [_required(list(branch)) for branch in arg[1]]
            if all(alt is not None for alt in alternatives):
                consider(frozenset().union(*alternatives))  # type: ignore[arg-type]
    if run:
        consider(frozenset({"".join(run)}))
    return best
