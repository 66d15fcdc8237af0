"""Telegram bots: Bot API webhooks in, Bot API calls out."""
