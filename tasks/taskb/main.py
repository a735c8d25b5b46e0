"""taskb, from the original Fusionizer: adds two numbers (returns int 8 -> body "8")."""


def handler(context, event, requests_session):
    return event.body["value1"] + event.body["value2"]
