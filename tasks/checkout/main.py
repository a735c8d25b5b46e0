"""Checkout: validates the order, prices it and charges the card.

validate-order and price are fused with this task (in-process calls); payment lives in
another function, so that call goes through the Fusionizer server.
"""

import util


def handler(context, event, requests_session):
    order = event.body
    addr = event.headers["Fusionizer-Server-Address"]

    check = requests_session.post(f"http://{addr}:8000/validate-order", json=order).json()
    if not check["valid"]:
        return 422, {"order_id": order.get("order_id"), "status": "rejected", "problems": check["problems"]}

    priced = requests_session.post(f"{util.server(event)}/price", json={"items": order["items"]})
    if priced.status_code != 200:
        return priced.status_code, {"order_id": order["order_id"], "status": "rejected", **priced.json()}
    quote = priced.json()

    payment = requests_session.post(
        f"http://{addr}:8000/payment",
        json={
            "order_id": order["order_id"],
            "amount_cents": quote["total_cents"],
            "currency": quote["currency"],
            "card": order["card"],
            "email": order["customer"]["email"],
        },
    )
    if payment.status_code != 200:
        return 402, {"order_id": order["order_id"], "status": "payment-failed", "reason": payment.text}

    context.logger.info_with("order confirmed", order_id=order["order_id"])
    return {
        "order_id": order["order_id"],
        "status": "confirmed",
        "total": util.format_money(quote["total_cents"], quote["currency"]),
        "payment": payment.json(),
    }
