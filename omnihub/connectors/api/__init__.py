"""The generic API channel: a shop's own app or back office posts signed JSON."""
