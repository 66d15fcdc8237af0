"""Slack apps: Events API webhooks in, Web API calls out (DMs and Slack Connect channels)."""
