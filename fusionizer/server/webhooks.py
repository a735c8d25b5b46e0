"""Verifying webhook deliveries (``POST /-/webhook``) from GitHub and GitLab.

GitHub signs the body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``;
GitLab sends the secret itself in ``X-Gitlab-Token``. Both are compared in constant time.
A delivery without either, or with a wrong one, is refused; nothing is triggered.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping, Optional

MAX_BODY = 1024 * 1024
GITHUB_SIGNATURE = "x-hub-signature-256"
GITLAB_TOKEN = "x-gitlab-token"


def verify(secret: bytes, headers: Mapping[str, str], body: bytes) -> Optional[str]:
    """The sender ("github" / "gitlab") when the delivery is authentic, else None."""
    signature = headers.get(GITHUB_SIGNATURE)
    if signature is not None:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return "github" if hmac.compare_digest(signature.encode(), expected.encode()) else None
    token = headers.get(GITLAB_TOKEN)
    if token is not None:
        return "gitlab" if hmac.compare_digest(token.encode(), secret) else None
    return None
