#!/usr/bin/env bash
# System packages the tests need that pip can't provide: Debian's Chromium, which the
# browser tests drive through Playwright's `executable_path` (never `playwright install`),
# and Debian's Dovecot IMAP server, which the e-mail tests start under a temporary
# config of their own (tests/contract/email/mailservers.py; no daemon, no /etc edits).
# Idempotent: with everything present it does nothing, not even `apt-get update`.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-test-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
