"""payment: charges {"order_id", "amount_cents", "currency", "card", "email"}.

Reached from checkout through the Fusionizer server (another function); calls notify,
which is fused with it, in-process.
"""

import os

import util


def handler(context, event, requests_session):
    charge = event.body
    if not util.luhn_ok(charge["card"]):
        return 402, {"status": "declined", "reason": "invalid card number"}

    receipt = {
        "status": "paid",
        "provider": os.environ.get("PAYMENT_PROVIDER", "fake"),
        "transaction": util.transaction_id(charge["order_id"], charge["amount_cents"]),
        "card": util.mask(charge["card"]),
    }
    addr = event.headers["Fusionizer-Server-Address"]
    notified = requests_session.post(
        f"http://{addr}:8000/notify",
        json={"to": charge["email"], "subject": f"Receipt for order {charge['order_id']}", "receipt": receipt},
    )
    receipt["notified"] = notified.status_code == 200
    return receipt
