"""What every HTTP handler of appwatch answers with, and who asks: ``Answer`` (status, body,
headers), the caller of a request (a console session, set by the console's middleware, else
the bearer token), the 401/403 answer (``core.auth``), and an ``Answer`` as Faust sends it.
Handlers are plain methods ``(who, ...) -> Answer``, tested without a web server."""

from __future__ import annotations

from typing import Any, NamedTuple

import faust
from aiohttp import web

from core.auth import Caller, Tokens


class Answer(NamedTuple):
    status: int
    body: Any
    headers: dict[str, str] = {}


CALLER = web.RequestKey("appwatch.caller", Caller)  # the console's middleware leaves the caller here


def caller(request) -> Caller:
    """Who makes ``request``: its session (the console's middleware), else its token."""
    return request.get(CALLER) or Caller(request.headers.get("Authorization"))


def denied(tokens: Tokens, who: Caller | str | None, need: str, *, plain: bool = False) -> Answer | None:
    """The 401 or 403 answer when the caller lacks ``need`` (``core.auth``), else None.
    ``plain``: the message as a bare JSON string, as Alertmanager's API answers."""
    why = tokens.check(who, need)
    if why is None:
        return None
    return Answer(why.status, why.message if plain else {"error": why.message}, why.headers)


def reply(view: faust.web.View, answer: Answer):
    """An ``Answer`` as Faust's web view sends it."""
    return view.json(answer.body, status=answer.status, headers=answer.headers or None)
