"""The gateway's OpenAPI description (GET /openapi.json): the public API
(services/gateway/README.md "Routes").

The proxied routes are not FastAPI routes (they take the plain-ASGI fast path), so the
description is written here from the routing table. Besides what the upstream answers,
every proxied route can answer what the gateway itself decides: 401 (no session), 404
(another user's id, or a path parameter that is not an id), 413, 429 and the upstream
failures 502, 503 and 504; an unsafe one also 403 (a cookie-authenticated request from
another site) and 408 (its body did not arrive in time), and one with a JSON body 415."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from agent_common.web import ORJSONResponse
from agent_gateway.routes import ROUTES, Route

ERROR = {"$ref": "#/components/schemas/Error"}
ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}
STATUS = {"type": "string", "enum": ["queued", "processing", "completed", "failed", "cancelled"]}
NULLABLE_STR = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["detail"], "properties": {"detail": {}}},
    "TaskIn": {
        "type": "object",
        "required": ["title", "description"],
        "additionalProperties": False,
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
    },
    "TaskCreated": {
        "type": "object",
        "required": ["task_id", "status"],
        "properties": {"task_id": {"type": "string", "format": "uuid"}, "status": STATUS},
    },
    "Step": {
        "type": "object",
        "required": ["type", "status", "error"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "error": NULLABLE_STR,
            "attempts": {"type": "integer"},
            "status": {"enum": ["queued", "processing", "completed", "failed", "cancelled", "skipped"]},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "optional": {"type": "boolean"},
            "params": {"type": "object"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "output": {"type": ["object", "null"]},
        },
    },
    "Task": {
        "type": "object",
        "required": [
            "task_id",
            "status",
            "title",
            "description",
            "result",
            "error",
            "steps",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "task_id": {"type": "string", "format": "uuid"},
            "status": STATUS,
            "title": {"type": "string"},
            "description": {"type": "string"},
            "result": NULLABLE_STR,
            "error": NULLABLE_STR,
            "plan_source": {"enum": ["rules", "llm"]},
            "plan_note": NULLABLE_STR,
            "plan": {"type": ["object", "null"]},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
            "created_at": TIME,
            "updated_at": TIME,
        },
    },
    "Tool": {
        "type": "object",
        "required": ["name", "description", "parameters"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "parameters": {"type": "object", "description": "JSON Schema of the step's params"},
            "inputs": {"type": "object"},
            "output": {"type": "object"},
        },
    },
    "ChatIn": {
        "type": "object",
        "required": ["message"],
        "additionalProperties": False,
        "properties": {"message": {"type": "string"}},
    },
    "ChatOut": {
        "type": "object",
        "required": ["response", "chat_id"],
        "properties": {"response": {"type": "string"}, "chat_id": {"type": "integer"}},
    },
    "HistoryItem": {
        "type": "object",
        "required": ["role", "content", "created_at"],
        "properties": {
            "role": {"enum": ["user", "assistant"]},
            "content": {"type": "string"},
            "created_at": TIME,
        },
    },
    "Session": {
        "type": "object",
        "required": ["user_id", "expires_at"],
        "properties": {
            "session_token": {"type": "string"},
            "user_id": {"type": "string"},
            "expires_at": TIME,
        },
    },
}

# what the gateway adds to any proxied route's answers
GATEWAY_ANSWERS = {
    401: "no valid session",
    404: "not found (another user's id, or not an id)",
    413: "body too large",
    429: "rate limited (Retry-After)",
    502: "the upstream broke the answer",
    503: "the upstream or the session store is unavailable (Retry-After)",
    504: "the upstream did not answer in time",
}
# what the gateway adds to unsafe routes (POST): the cross-site check and the body deadline
UNSAFE_ANSWERS = {
    403: "cross-site request refused (a cookie-authenticated request from another site)",
    408: "the request body did not arrive in time (the connection is closed)",
}
JSON_BODY_ANSWER = {415: "the request body is not JSON (Content-Type: application/json)"}
LIMIT = {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}}

# route name -> (success status, its schema, the request body's schema, the upstream's other answers)
UPSTREAM: dict[str, tuple[int, Any, str | None, dict[int, str]]] = {
    "chat": (
        200,
        {"$ref": "#/components/schemas/ChatOut"},
        "ChatIn",
        {400: "malformed JSON", 422: "empty, over-long or mistyped message"},
    ),
    "chat_history": (
        200,
        {"type": "array", "items": {"$ref": "#/components/schemas/HistoryItem"}},
        None,
        {422: "bad limit"},
    ),
    "task_create": (
        202,
        {"$ref": "#/components/schemas/TaskCreated"},
        "TaskIn",
        {400: "malformed JSON", 422: "empty, over-long or mistyped title or description"},
    ),
    "task_list": (
        200,
        {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
        None,
        {422: "bad limit"},
    ),
    "task_get": (200, {"$ref": "#/components/schemas/Task"}, None, {422: "not a task id"}),
    "task_cancel": (
        200,
        {"$ref": "#/components/schemas/Task"},
        None,
        {409: "the task has already finished", 422: "not a task id"},
    ),
    "tools": (200, {"type": "array", "items": {"$ref": "#/components/schemas/Tool"}}, None, {}),
}


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _proxied(route: Route) -> dict[str, Any]:
    ok, schema, body, others = UPSTREAM[route.name]
    answers = {str(ok): _json(schema, "the upstream's answer")}
    if route.name == "chat":
        answers[str(ok)]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    gateway = dict(GATEWAY_ANSWERS)
    if route.method not in ("GET", "HEAD"):
        gateway |= UNSAFE_ANSWERS
    if route.json_body:
        gateway |= JSON_BODY_ANSWER
    for status, text in {**gateway, **others}.items():
        answers[str(status)] = _json(ERROR, text)
    operation: dict[str, Any] = {
        "operationId": route.name,
        "responses": answers,
        "security": [{"bearer": []}, {"cookie": []}],
    }
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": ID}
        for n in ("user_id", "id")
        if "{" + n + "}" in route.path
    ]
    if route.name in ("task_list", "chat_history"):
        params.append(LIMIT)
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return operation


def _own() -> dict[str, dict[str, Any]]:
    """The routes the gateway answers itself."""
    session = {"$ref": "#/components/schemas/Session"}
    auth: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
    down = _json(ERROR, "the session store is unavailable (Retry-After)")
    unauthorized = _json(ERROR, "no valid session")
    cross_site = _json(ERROR, UNSAFE_ANSWERS[403])
    return {
        "/api/session": {
            "post": {
                "operationId": "session_create",
                "responses": {
                    "201": _json(session, "a new anonymous session; also the `session` cookie"),
                    "403": cross_site,
                    "429": _json(ERROR, "too many new sessions from this address"),
                    "503": down,
                },
            },
            "get": {
                "operationId": "session_read",
                "security": auth,
                "responses": {
                    "200": _json(session, "the caller's session"),
                    "401": unauthorized,
                    "503": down,
                },
            },
        },
        "/api/session/revoke": {
            "post": {
                "operationId": "session_revoke",
                "security": auth,
                "responses": {
                    "200": _json({"type": "object"}, "revoked; the cookie is cleared"),
                    "401": unauthorized,
                    "403": cross_site,
                    "503": down,
                },
            }
        },
        "/api/upstreams": {
            "get": {
                "operationId": "upstreams",
                "security": auth,
                "responses": {
                    "200": _json({"type": "object"}, "each upstream's /ready and the task queue's backlog"),
                    "401": unauthorized,
                    "503": down,
                },
            }
        },
    }


def document() -> dict[str, Any]:
    paths = _own()
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _proxied(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agent-system gateway",
            "version": "0.1.0",
            "description": "The public API: sessions, chat and tasks (services/gateway/README.md).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
async def openapi() -> Response:
    return Response(_document_json(), media_type="application/json")


@cache
def _document_json() -> bytes:
    return bytes(ORJSONResponse(document()).body)  # built once
