"""hub.yaml: defaults, derived values, per-connector channel settings, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.hub.settings import HubSettings, default_settings, load_hub_settings
from omnihub.hub.yamlconfig import ConfigError, LocatedError

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = Path(__file__).parents[3] / "config"


def errors_of(name: str) -> list[LocatedError]:
    with pytest.raises(ConfigError) as caught:
        load_hub_settings(FIXTURES / name)
    return caught.value.errors


def where(error: LocatedError) -> tuple[int, int, str]:
    return error.line, error.column, error.key_path


def test_default_settings_are_the_embedded_defaults() -> None:
    settings = default_settings()
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8080
    assert settings.server.public_url == "http://127.0.0.1:8080"
    assert settings.store.url == "sqlite:///data/omnihub.db"
    assert settings.bus.url == "memory://"
    assert settings.bus.stream_prefix == "omnihub"
    assert settings.media.dir == Path("data/media")
    assert settings.media.max_upload_bytes == 10 * 1024 * 1024
    assert settings.security.pii_key is None
    assert settings.routing is None
    assert (settings.limits.max_body_bytes, settings.limits.max_text_bytes) == (1048576, 65536)
    assert settings.outbox.max_attempts == 12
    assert settings.inbox.webhooks == []
    assert settings.channels == []


def test_paths_follow_data_dir_unless_set() -> None:
    settings = default_settings("/var/lib/omnihub")
    assert settings.store.url == "sqlite:////var/lib/omnihub/omnihub.db"
    assert settings.media.dir == Path("/var/lib/omnihub/media")
    explicit = HubSettings.model_validate(
        {"data_dir": "x", "store": {"url": "postgresql://db/omnihub"}, "media": {"dir": "/m"}})
    assert explicit.store.url == "postgresql://db/omnihub"
    assert explicit.media.dir == Path("/m")


def test_derived_public_url_is_not_marked_as_set() -> None:
    """`serve --port` re-derives public_url only when the operator did not set it."""
    settings = HubSettings.model_validate({"server": {"port": 9000}})
    assert settings.server.public_url == "http://127.0.0.1:9000"
    assert "public_url" not in settings.server.model_fields_set
    given = HubSettings.model_validate({"server": {"public_url": "https://hub.example.com/"}})
    assert given.server.public_url == "https://hub.example.com"
    assert "public_url" in given.server.model_fields_set


def test_empty_sections_mean_defaults(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("server:\nstore:\nmedia:\nchannels:\n")
    settings = load_hub_settings(path)
    assert settings.server.port == 8080
    assert settings.store.url == "sqlite:///data/omnihub.db"
    assert settings.channels == []


def test_good_file_loads_with_each_channel_in_its_own_model() -> None:
    settings = load_hub_settings(FIXTURES / "good.yaml")
    assert settings.server.public_url == "http://127.0.0.1:9000"  # 0.0.0.0 is reached on loopback
    assert settings.store.url == "sqlite:////srv/omnihub/omnihub.db"
    assert settings.bus.url == "redis://127.0.0.1:6379/0"
    assert settings.inbox.webhooks[0].events == ["message.*", "sla.breached"]
    desk, relay = settings.channels
    assert type(desk).__name__ == "DeskSettings"
    assert (desk.id, desk.type, desk.token, desk.retry.attempts) == (  # type: ignore[attr-defined]
        "front-desk", "desk", "desk-token-1", 3)
    assert type(relay).__name__ == "RelaySettings"
    assert settings.channel("relay_1") is relay
    assert settings.channel("nope") is None


def test_typo_in_a_key_is_located_with_a_suggestion() -> None:
    [error] = errors_of("typo_key.yaml")
    assert str(error) == (f"{FIXTURES / 'typo_key.yaml'}:3:3: server.prot: "
                          "unknown key 'prot' (did you mean 'port'?)")


def test_wrong_type_is_located_at_its_key() -> None:
    [error] = errors_of("wrong_type.yaml")
    assert where(error) == (5, 3, "limits.max_body_bytes")
    assert error.message.startswith("Input should be a valid integer")


def test_unknown_channel_type_is_located_and_lists_the_known_types() -> None:
    [error] = errors_of("unknown_channel_type.yaml")
    assert where(error) == (6, 5, "channels.1.type")
    assert error.message == "unknown channel type 'telegramm' (known types: desk, relay)"


def test_duplicate_channel_id_is_located_at_the_second_channel() -> None:
    [error] = errors_of("duplicate_channel_id.yaml")
    assert where(error) == (9, 5, "channels.2.id")
    assert error.message == "duplicate channel id 'front-desk' (also used by channels.0)"


def test_channel_id_must_be_url_safe() -> None:
    [error] = errors_of("bad_channel_id.yaml")
    assert where(error) == (2, 5, "channels.0.id")
    assert "lower-case letters, digits" in error.message


def test_nested_error_in_a_connector_setting_is_located() -> None:
    errors = errors_of("channel_nested_error.yaml")
    assert [where(e) for e in errors] == [
        (8, 7, "channels.0.retry.attempts"),
        (9, 7, "channels.0.retry.delay_secs"),
    ]
    assert errors[0].message == "Input should be greater than or equal to 1"
    assert errors[1].message == "unknown key 'delay_secs' (did you mean 'delay_seconds'?)"


def test_unknown_connector_key_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("channels:\n  - id: a\n    type: desk\n    tokn: desk-token-1\n")
    errors = load_errors(path)
    assert [(where(e), e.message) for e in errors] == [
        ((2, 5, "channels.0.token"), "Field required"),
        ((4, 5, "channels.0.tokn"), "unknown key 'tokn' (did you mean 'token'?)"),
    ]


def load_errors(path: Path) -> list[LocatedError]:
    with pytest.raises(ConfigError) as caught:
        load_hub_settings(path)
    return caught.value.errors


def test_all_errors_of_a_file_are_reported_in_file_order() -> None:
    errors = errors_of("many_errors.yaml")
    assert [where(e) for e in errors] == [
        (2, 3, "server.hots"),
        (3, 3, "server.port"),
        (5, 3, "outbox.max_attempts"),
        (8, 7, "inbox.webhooks.0.url"),
        (9, 7, "inbox.webhooks.0.secret"),
    ]
    assert errors[0].message == "unknown key 'hots' (did you mean 'host'?)"
    assert errors[3].message == (
        "expected an http:// or https:// URL, got 'ftp://helpdesk.example.com'")


def test_environment_values_and_defaults_are_filled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_TEST_PORT", "9100")
    monkeypatch.setenv("OMNIHUB_TEST_HOST", "")
    monkeypatch.delenv("OMNIHUB_TEST_TOKEN", raising=False)
    settings = load_hub_settings(FIXTURES / "env.yaml")
    assert settings.server.port == 9100
    assert settings.server.public_url == "https://support.example.com/hub"
    [desk] = settings.channels
    assert desk.token == "fallback-token"  # type: ignore[attr-defined]
    assert desk.note == "price: ${AMOUNT}"  # type: ignore[attr-defined]
    monkeypatch.setenv("OMNIHUB_TEST_TOKEN", "from-the-environment")
    [desk] = load_hub_settings(FIXTURES / "env.yaml").channels
    assert desk.token == "from-the-environment"  # type: ignore[attr-defined]


def test_unset_variable_without_default_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNIHUB_TEST_UNSET_TOKEN", raising=False)
    [error] = errors_of("env_unset.yaml")
    assert where(error) == (6, 12, "channels.0.token")
    assert "OMNIHUB_TEST_UNSET_TOKEN is not set" in error.message


def test_unset_variable_in_a_number_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNIHUB_TEST_PORT", raising=False)
    monkeypatch.delenv("OMNIHUB_TEST_UNSET_TOKEN", raising=False)
    [error] = errors_of("env.yaml")
    assert where(error) == (2, 9, "server.port")
    assert "OMNIHUB_TEST_PORT" in error.message


def test_missing_file() -> None:
    [error] = errors_of("no_such_hub.yaml")
    assert str(error) == f"{FIXTURES / 'no_such_hub.yaml'}: file not found"


@pytest.mark.parametrize("value", ["short", "not base64 at all!!", "AAAA"])
def test_pii_key_must_be_32_bytes_of_base64(value: str) -> None:
    with pytest.raises(ValueError, match="32 random bytes in base64"):
        HubSettings.model_validate({"security": {"pii_key": value}})


def test_pii_keys_accept_both_base64_alphabets_and_empty_means_none() -> None:
    urlsafe = "-_" * 21 + "8="
    settings = HubSettings.model_validate(
        {"security": {"pii_key": urlsafe, "pii_old_keys": ["A" * 43 + "="]}})
    assert settings.security.pii_key == urlsafe
    assert HubSettings.model_validate({"security": {"pii_key": ""}}).security.pii_key is None


@pytest.mark.parametrize("section, values", [
    ("store", {"url": "oracle://db"}),
    ("store", {"url": "sqlite://"}),
    ("bus", {"url": "kafka://broker"}),
    ("outbox", {"backoff_base_seconds": 10, "backoff_max_seconds": 5}),
    ("inbox", {"webhooks": [{"url": "https://x.example", "secret": "s" * 16, "events": ["Msg"]}]}),
    ("server", {"port": 70000}),
])
def test_bad_values_are_rejected(section: str, values: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HubSettings.model_validate({section: values})


def test_shipped_configs_validate_with_the_real_connectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """config/hub.yaml and the commented example must stay loadable as the code changes."""
    from omnihub.connectors import registry

    monkeypatch.undo()  # the real registry, not the test connectors
    assert "api" in registry.connector_types()
    monkeypatch.delenv("OMNIHUB_API_SECRET", raising=False)
    monkeypatch.delenv("OMNIHUB_PII_KEY", raising=False)
    for path in (CONFIG / "hub.yaml", CONFIG / "examples" / "hub.yaml"):
        settings = load_hub_settings(path)
        assert [(c.id, c.type) for c in settings.channels] == [("shop-app", "api"), ("web", "webchat")]
        secret = settings.channels[0].secret  # type: ignore[attr-defined]
        assert secret == "change-me-please-0123456789"
