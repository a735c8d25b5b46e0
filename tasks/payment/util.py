"""payment's helpers (checkout has a different util.py: each task imports its own)."""

import hashlib


def luhn_ok(number):
    digits = [int(d) for d in number][::-1]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def mask(number):
    return "*" * (len(number) - 4) + number[-4:]


def transaction_id(order_id, amount_cents):
    # Deterministic, so a retried payment of the same order gets the same id.
    return "tx-" + hashlib.sha256(f"{order_id}:{amount_cents}".encode()).hexdigest()[:12]
