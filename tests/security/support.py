"""Sessions and requests for the security suite, over the public API."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from agent_gateway.routes import ROUTES, Route

TEXT = "Plain text to summarize. It has two sentences at least. And a third one here."


@dataclass
class User:
    token: str
    user_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_user(client: httpx.AsyncClient) -> User:
    r = await client.post("/api/session")
    assert r.status_code == 201, r.text
    return User(r.json()["session_token"], r.json()["user_id"])


async def new_task(client: httpx.AsyncClient, user: User, title: str = "t", description: str = TEXT) -> str:
    r = await client.post("/api/task", headers=user.auth, json={"title": title, "description": description})
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def path_of(route: Route, *, task_id: str, user_id: str) -> str:
    return route.path.replace("{id}", task_id).replace("{user_id}", user_id)


def body_of(route: Route) -> dict[str, str] | None:
    return {"task_create": {"title": "t", "description": TEXT}, "chat": {"message": "hello"}}.get(route.name)


__all__ = ["ROUTES", "TEXT", "User", "body_of", "new_task", "new_user", "path_of"]
