"""`${VAR}` and `${VAR:-default}` in config values, filled in from the environment.

Secrets stay out of the YAML files: an operator writes `secret: ${SHOP_SECRET}` and sets
the variable in the service's environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["interpolate"]

# `$${` is a literal `${`; otherwise `${NAME}` or `${NAME:-default}`, where the default
# may itself hold references one level deep (`${PUBLIC_URL:-http://${HOST}:8080}`).
_REFERENCE = re.compile(
    r"\$\$\{"
    r"|\$\{(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?::-(?P<default>(?:[^$}]|\$(?!\{)|\$\{[^{}]*\})*))?\}|)"
)


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Fill `${VAR}` and `${VAR:-default}` from `environ` (the default also replaces an
    empty value, as in the shell); return the text and the problems found."""
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group("name")
        if name is None:
            problems.append("malformed ${...} reference: use ${NAME} or ${NAME:-default} "
                            "(write $${ for a literal ${)")
            return match.group(0)
        value = environ.get(name)
        default = match.group("default")
        if default is not None and not value:
            text, nested = interpolate(default, environ)
            problems.extend(nested)
            return text
        if value is None:
            problems.append(f"environment variable {name} is not set "
                            f"(set it, or give a default: ${{{name}:-default}})")
            return ""
        return value

    return _REFERENCE.sub(replace, text), problems
