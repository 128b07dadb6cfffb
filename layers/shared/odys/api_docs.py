"""What a route answers, declared next to its handler for the OpenAPI document (``make openapi``, devtools/openapi.py).

Nothing here runs at request time: :func:`doc` stores a small frozen record on the handler function and returns it
unchanged. Request models are the ones the handler parses with anyway; response models are named (strings, looked
up in :mod:`odys.responses` by the generator only), so a handler never imports them::

    @app.post("/api/clients", middlewares=authenticated())
    @doc(auth="professional", body=clients.ClientCreate, response=(201, "Client"), location=True,
         problems={402: ["plan_limit_reached"], 409: ["client_exists"]})
    def create_client():
        ...

    @app.get("/api/clients/<client_id>", middlewares=authenticated())
    @doc(auth="professional", path={"id": "client"}, response="ClientDetail")
    def get_client(client_id: str):
        ...

``auth`` says who may call (the tenancy matrix, tests/test_tenancy.py, sends each kind of caller to each route):

* ``public``        anyone; rate limited by IP
* ``user``          any signed-in Supabase user (a bearer token), onboarded or not
* ``professional``  a signed-in user with a professional profile (404 ``onboarding_required`` otherwise)
* ``stripe``/``meta``  no token: the body is verified by the ``Stripe-Signature``/``X-Hub-Signature-256`` header
* ``pix``           no token: a PSP's callback, named by the secret token in its URL (and, where the custom domain
                    requires it, the PSP's client certificate: mutual TLS)

The generator adds the problems every route of a kind can answer (401 on tokens, 429 on rate limits, 400/413/415/422
on bodies, 422 on queries, 404 on path ids, 500); ``problems`` lists the route's own, by status, with their codes.
``path`` names what each path parameter identifies (``client``, ``appointment``, ...: a UUID) or ``"text"``.
A route with more than one success answer lists the others in ``also`` (``{200: "Follow"}``: status -> model name,
None for no body), other media types of its success answer (a text body each) in ``other_content``
(``{"text/csv": "with format=csv"}``), and optional headers of its success answer in ``response_headers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar

Auth = Literal["public", "user", "professional", "stripe", "meta", "pix"]
AUTH_KINDS: tuple[str, ...] = ("public", "user", "professional", "stripe", "meta", "pix")
F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__odys_api_doc__"


_NONE: Mapping[Any, Any] = MappingProxyType({})


class Operation(NamedTuple):
    """One operation's documentation (see the module docstring for each field). A NamedTuple: every function
    builds this class at import, in ~0.5 ms where a frozen dataclass of 15 fields took ~3 ms."""

    auth: Auth
    response: str | None = None           # a model name in odys.responses; None: no body (204)
    status: int = 200
    body: type | None = None              # the pydantic model parse_body validates
    query: type | None = None             # the pydantic model parse_query validates
    path: Mapping[str, str] = _NONE
    problems: Mapping[int, Sequence[str]] = _NONE
    summary: str | None = None
    location: bool = False                # a 201 with a Location header
    content_type: str = "application/json"
    request_headers: Mapping[str, str] = _NONE   # optional header -> description
    raw_body: bool = False                # the body is read as bytes (webhooks), not parsed as a model
    also: Mapping[int, str | None] = _NONE       # other success status -> model name or None
    other_content: Mapping[str, str] = _NONE     # other media type (text body) -> when
    response_headers: Mapping[str, str] = _NONE  # optional success header -> description


def doc(auth: Auth, response: str | tuple[int, str] | int | None = None, **details: Any) -> Callable[[F], F]:
    """Record the documentation of the decorated route handler (place it under ``@app.<method>(...)``).

    ``response`` is a model name (200), ``(status, name)``, or a bare status for an answer without body (204).
    """
    if auth not in AUTH_KINDS:
        raise ValueError(f"auth must be one of {', '.join(AUTH_KINDS)}, not {auth!r}")
    if isinstance(response, tuple):
        status, model = response
    elif isinstance(response, int):
        status, model = response, None
    else:
        status, model = (200, response) if response else (204, None)
    operation = Operation(auth=auth, response=model, status=status, **details)

    def record(handler: F) -> F:
        setattr(handler, ATTRIBUTE, operation)
        return handler

    return record


def of(handler: Callable[..., Any]) -> Operation | None:
    """The documentation recorded on ``handler``, or None when it has none."""
    return getattr(handler, ATTRIBUTE, None)
