"""omnihub: an omnichannel customer-service gateway for e-commerce."""

__version__ = "0.1.0"
