"""price: {"items": [{"sku", "qty"}]} -> {"lines", "total_cents", "currency"}.

Checks stock with Nuclio's own call style, context.platform.call_function, which the
fusionizer runs in-process because inventory is fused with this task.
"""

import os

import nuclio_sdk
import util


def handler(context, event):
    items = event.body["items"]
    unknown = [item["sku"] for item in items if item["sku"] not in util.PRICE_CENTS]
    if unknown:
        return 404, {"reason": "unknown items", "skus": unknown}

    stock = context.platform.call_function(
        "inventory",
        nuclio_sdk.Event(body={"items": items}, content_type="application/json", method="POST", path="/"),
    )
    if stock.status_code != 200 or stock.body["missing"]:
        return 409, {"reason": "out of stock", "skus": stock.body["missing"]}

    lines = [{"sku": i["sku"], "qty": i["qty"], "cents": util.line_total(i["sku"], i["qty"])} for i in items]
    return {
        "lines": lines,
        "total_cents": sum(line["cents"] for line in lines),
        "currency": os.environ.get("CURRENCY", "EUR"),
    }
