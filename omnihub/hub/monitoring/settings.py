"""`monitoring:` and `alerts:` in hub.yaml: the collector's pace, alert rules, who is told.

A rule names one metric the hub exports, optionally narrowed by labels, and compares a
figure of it with a threshold:

- a gauge: its value (several matching series: their `aggregate`, default sum);
- a counter: its total, or with `window` its increase over that window;
- a histogram: with `quantile` and `window`, that quantile of the observations in the
  window (interpolated in the buckets, as Prometheus's histogram_quantile does).

The condition must hold for `for` (default at once) before the alert fires; it resolves
as soon as the condition no longer holds. Metric and label names are checked against
what the hub exports (omnihub/hub/monitoring/catalog.py), so a typo is a located error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from omnihub.hub.monitoring.catalog import families

__all__ = ["AlertRule", "AlertSettings", "EmailNotify", "MonitoringSettings", "NotifySettings",
           "SmtpSettings", "WebhookNotify", "parse_seconds"]

_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_QUANTITY = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def parse_seconds(value: Any) -> float:
    """A number, or a duration with a unit (`500ms`, `30s`, `5m`, `2h`, `1d`), in seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a duration like '500ms' or '5m', got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value)
        if match:
            return float(match.group(1)) * _SECONDS[match.group(2)]
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a number or a duration like '500ms', '30s' or '5m', "
                     f"got {value!r}")


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


Seconds = Annotated[float, BeforeValidator(parse_seconds), AfterValidator(_non_negative)]
Threshold = Annotated[float, BeforeValidator(parse_seconds)]


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+\S*", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MonitoringSettings(Section):
    #: how often the collector queries the backlog, outbox and dead letters and probes
    #: the store and Redis; scrapes of /metrics only read what it found
    collect_seconds: Seconds = Field(default=15.0, gt=0)


class AlertRule(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    description: str = Field(default="", max_length=500)
    severity: Literal["info", "warning", "critical"] = "warning"
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    aggregate: Literal["sum", "max", "min"] = "sum"
    quantile: float | None = Field(default=None, gt=0, lt=1)
    window: Seconds | None = None
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: Threshold
    for_: Seconds = Field(default=0.0, alias="for")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        known = families()
        if value not in known:
            names = ", ".join(sorted(n for n, f in known.items() if n == f.name))
            raise ValueError(f"the hub exports no metric {value!r}; known: {names}")
        return known[value].name

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        metric = info.data.get("metric")
        if metric is None:
            return value
        allowed = families()[metric].labels
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"{metric} has no label {', '.join(unknown)}; its labels: "
                             f"{', '.join(allowed) or 'none'}")
        return value

    @model_validator(mode="after")
    def _figure_fits_the_type(self) -> AlertRule:
        kind = families()[self.metric].type
        if kind == "histogram" and (self.quantile is None or self.window is None):
            raise ValueError(f"{self.metric} is a histogram: give `quantile` (e.g. 0.99) "
                             "and `window` (e.g. 5m)")
        if kind != "histogram" and self.quantile is not None:
            raise ValueError(f"`quantile` needs a histogram; {self.metric} is a {kind}")
        if kind == "gauge" and self.window is not None:
            raise ValueError(f"`window` needs a counter or histogram; {self.metric} is a gauge")
        if self.window is not None and self.window <= 0:
            raise ValueError("`window` must be longer than zero")
        return self

    def describe(self) -> str:
        """One line a person reads: `p99 of omnihub_ingest_latency_seconds{channel="shop"}
        over 300s > 0.5`."""
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        series = f"{self.metric}{{{labels}}}" if labels else self.metric
        if self.quantile is not None:
            figure = f"p{self.quantile * 100:g} of {series} over {self.window:g}s"
        elif self.window is not None:
            figure = f"increase of {series} over {self.window:g}s"
        else:
            figure = series if self.aggregate == "sum" else f"{self.aggregate} of {series}"
        held = f" for {self.for_:g}s" if self.for_ else ""
        return f"{figure} {self.op} {self.threshold:g}{held}"


class WebhookNotify(Section):
    url: Annotated[str, AfterValidator(_http_url)]
    secret: str = Field(min_length=16)


class SmtpSettings(Section):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    #: auto: STARTTLS when the server offers it; starttls: required; tls: implicit TLS
    #: (port 465); none: plain text (a local relay)
    security: Literal["auto", "starttls", "tls", "none"] = "auto"
    timeout_seconds: Seconds = Field(default=30.0, gt=0)


class EmailNotify(Section):
    from_: Annotated[str, AfterValidator(_email)] = Field(alias="from")
    to: list[Annotated[str, AfterValidator(_email)]] = Field(min_length=1)
    smtp: SmtpSettings


class NotifySettings(Section):
    webhooks: list[WebhookNotify] = Field(default_factory=list)
    email: EmailNotify | None = None


class AlertSettings(Section):
    #: how often the rules are evaluated (by one process of a cluster, under a lease)
    evaluate_seconds: Seconds = Field(default=15.0, gt=0)
    rules: list[AlertRule] = Field(default_factory=list)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[AlertRule]) -> list[AlertRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}")
            seen.add(rule.name)
        return rules
