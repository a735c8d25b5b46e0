"""validate-order: returns {"valid": bool, "problems": [...]} for an order (JSON body)."""


def problems_of(order):
    if not isinstance(order, dict):
        return ["the order must be a JSON object"]
    problems = []
    if not order.get("order_id"):
        problems.append("order_id is missing")
    email = (order.get("customer") or {}).get("email", "")
    if "@" not in email:
        problems.append("customer.email is not an email address")
    items = order.get("items") or []
    if not items:
        problems.append("the order has no items")
    for i, item in enumerate(items):
        qty = item.get("qty")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            problems.append(f"items[{i}].qty must be a whole number >= 1")
    if not str(order.get("card", "")).isdigit():
        problems.append("card must be digits")
    return problems


def handler(context, event):
    problems = problems_of(event.body)
    return {"valid": not problems, "problems": problems}
