"""`python -m omnihub …` is the same as the `omnihub` command."""

from omnihub.hub.cli import main

main()
