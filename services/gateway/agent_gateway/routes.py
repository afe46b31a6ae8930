"""The routing table (services/gateway/README.md "Routes"): which /api path goes to which upstream path.

Matching works on the raw (still percent-encoded) path, so a parameter is forwarded exactly
as the client sent it and a decoded "/" or CR/LF can never change the upstream request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# task ids are UUIDs and user ids are our own UUIDs: nothing else is worth forwarding
_PARAM = r"(?P<p>[A-Za-z0-9_-]{1,128})"


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # for per-route timeouts (ROUTE_TIMEOUTS_S) and logs
    method: str
    path: str  # the public pattern; also the metrics label
    upstream: str  # "chat" or "orchestrator"
    target: str  # upstream path, "{p}" replaced by the parameter
    own_user_param: bool = False  # the parameter must be the session's own user id
    json_body: bool = False  # a body, when there is one, must say it is JSON


ROUTES: tuple[Route, ...] = (
    Route("chat", "POST", "/api/chat", "chat", "/chat", json_body=True),
    Route(
        "chat_history", "GET", "/api/chat/history/{user_id}", "chat", "/chat/history/{p}", own_user_param=True
    ),
    Route("task_create", "POST", "/api/task", "orchestrator", "/task", json_body=True),
    Route("task_list", "GET", "/api/tasks", "orchestrator", "/tasks"),
    Route("task_get", "GET", "/api/tasks/{id}", "orchestrator", "/task/{p}"),
    Route("task_cancel", "POST", "/api/tasks/{id}/cancel", "orchestrator", "/task/{p}/cancel"),
    Route("tools", "GET", "/api/tools", "orchestrator", "/tools"),
)


def _regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[a-z_]+\}", _PARAM, path) + "$")


_STATIC: dict[str, list[Route]] = {}
_PATTERNS: list[tuple[re.Pattern[str], list[Route]]] = []
for _route in ROUTES:
    if "{" in _route.path:
        for _pattern, _routes in _PATTERNS:
            if _pattern.pattern == _regex(_route.path).pattern:
                _routes.append(_route)
                break
        else:
            _PATTERNS.append((_regex(_route.path), [_route]))
    else:
        _STATIC.setdefault(_route.path, []).append(_route)


class MethodNotAllowed(Exception):
    def __init__(self, allowed: list[str]) -> None:
        self.allowed = allowed


def match(method: str, raw_path: str) -> tuple[Route, str, str] | None:
    """(route, upstream path, path parameter) for a request, None when no route has this
    path. Raises MethodNotAllowed when the path exists with other methods."""
    candidates = _STATIC.get(raw_path)
    param = ""
    if candidates is None:
        for pattern, routes in _PATTERNS:
            found = pattern.match(raw_path)
            if found:
                candidates, param = routes, found["p"]
                break
        else:
            return None
    for route in candidates:
        if route.method == method:
            return route, (route.target.replace("{p}", param) if param else route.target), param
    raise MethodNotAllowed([r.method for r in candidates])
