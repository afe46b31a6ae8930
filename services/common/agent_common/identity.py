"""The caller's identity inside the cluster: the gateway passes the session's user as
X-User-Id (and drops any a client sent). Services trust only that header."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException

MAX_USER_ID_CHARS = 128


def current_user(x_user_id: Annotated[str | None, Header(max_length=MAX_USER_ID_CHARS)] = None) -> str:
    if not x_user_id or not x_user_id.strip():
        raise HTTPException(401, "no user: requests must come through the gateway with a session")
    if not x_user_id.isprintable():
        raise HTTPException(400, "X-User-Id holds unprintable characters")
    return x_user_id.strip()


UserId = Annotated[str, Depends(current_user)]
