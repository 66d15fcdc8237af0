"""Alembic migrations of the store, shipped in the package: `omnihub migrate` needs no ini file."""
