"""Monitoring: HTTP timing, the periodic metrics collector, and alert rules with their
notifications (webhook and e-mail). The metric families live in omnihub/hub/metrics.py."""
