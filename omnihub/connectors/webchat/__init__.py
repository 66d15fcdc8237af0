"""The shop's own web chat: an embeddable widget speaking JSON over a WebSocket."""
