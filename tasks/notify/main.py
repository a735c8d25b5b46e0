"""notify: {"to", "subject", ...} -> {"sent": true, "channel": ...}; logs instead of mailing."""

import os


def handler(context, event):
    message = event.body
    channel = os.environ.get("NOTIFY_CHANNEL", "log")
    context.logger.info_with("notification", to=message["to"], subject=message["subject"], channel=channel)
    return {"sent": True, "channel": channel, "to": message["to"]}
