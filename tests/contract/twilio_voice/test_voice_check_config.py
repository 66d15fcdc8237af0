"""`omnihub check-config` checks a phone channel's menu against routing.yaml."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from voice_support import ACCOUNT_SID, NUMBER, routing

from omnihub.hub.cli import main

HUB_YAML = """\
server: {{public_url: "https://hub.example.test"}}
store: {{url: "sqlite:///{db}"}}
routing: {routing}
channels:
  - id: phone
    type: twilio_voice
    account_sid: {sid}
    auth_token: test-auth-token-0123456789abcdef
    from: "{number}"
    menu:
      - {{digits: "1", group: after-sales, say: "For returns, press 1."}}
      - {{digits: "2", group: shipping, say: "For your delivery, press 2."}}
    default_group: {default}
    agent_phones: {{li.na: "+8613800138000", ghost: "+8613900139000"}}
"""


def write(tmp_path: Path, default: str) -> Path:
    routing_file = tmp_path / "routing.yaml"
    routing_file.write_text(json.dumps(routing()))
    hub = tmp_path / "hub.yaml"
    hub.write_text(HUB_YAML.format(db=tmp_path / "x.db", routing=routing_file, sid=ACCOUNT_SID,
                                   number=NUMBER, default=default))
    return hub


def test_unknown_groups_and_agents_are_located_errors(tmp_path: Path) -> None:
    hub = write(tmp_path, default="after-sales")

    result = CliRunner().invoke(main, ["check-config", "--config", str(hub)])

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"{hub}:12:23: channels.0.menu.1.group: unknown group 'shipping' in routing.yaml "
        "(known: after-sales, logistics)",
        f"{hub}:14:45: channels.0.agent_phones.ghost: unknown agent 'ghost' in routing.yaml "
        "(known: li.na, wang.wei, zhang.min)",
    ]


def test_a_default_group_missing_from_routing_is_an_error(tmp_path: Path) -> None:
    hub = write(tmp_path, default="returns")

    result = CliRunner().invoke(main, ["check-config", str(hub)])

    assert result.exit_code == 1
    assert "channels.0.default_group: unknown group 'returns'" in result.stderr
