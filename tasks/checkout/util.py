"""checkout's helpers (payment and price have their own util.py: each task imports its own)."""

import os


def server(event):
    """Base URL of the Fusionizer server, from the header every event carries."""
    return event.headers["Fusionizer-Server-Url"].rstrip("/")


def format_money(cents, currency=None):
    currency = currency or os.environ.get("CURRENCY", "EUR")
    return f"{cents // 100}.{cents % 100:02d} {currency}"
