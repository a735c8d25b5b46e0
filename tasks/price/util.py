"""price's helpers: the price list and the volume discount (not checkout's util.py)."""

PRICE_CENTS = {"book": 1250, "mug": 899, "poster": 1500, "pen": 199}


def line_total(sku, qty):
    total = PRICE_CENTS[sku] * qty
    # 10% off ten or more of one item, rounded down to the cent.
    return total - total // 10 if qty >= 10 else total
