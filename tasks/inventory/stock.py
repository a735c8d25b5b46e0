"""inventory: {"items": [{"sku", "qty"}]} -> {"missing": [skus short of stock]}.

The handler module is stock.py (spec.handler: stock:handler), not main.py.
"""

STOCK = {"book": 40, "mug": 12, "poster": 0, "pen": 500}


def init_context(context):
    # Per-worker state, as Nuclio's init_context intends.
    context.user_data.stock = dict(STOCK)


def handler(context, event):
    stock = context.user_data.stock
    missing = [item["sku"] for item in event.body["items"] if stock.get(item["sku"], 0) < item["qty"]]
    return {"missing": missing}
