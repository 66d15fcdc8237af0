"""The knowledge base: FAQ entries (versioned), their full-text search, import/export.

Public entry points: `search_entries` (kb/search.py) for the bot and the agents'
suggestions, the store functions in kb/store.py, and the API in kb/api.py.
"""
