"""SnapStart: what an execution environment resumed from a snapshot must not reuse, redone through the runtime's hooks.

With SnapStart (template.yaml: the HTTP functions publish a version behind the ``live`` alias), Lambda runs a
version's init once, snapshots the microVM, and resumes every later execution environment from that snapshot: what
init left in memory is shared by all of them. Init does the work worth snapshotting (imports, configuration read
from the environment, compiled patterns, pydantic validators); nothing per-environment may be in the snapshot.
Importing this module (``odys.http`` does, so every HTTP function registers at init) registers, through
``snapshot_restore_py`` (part of Lambda's managed Python runtimes):

* before the snapshot: the lazy imports declared with :func:`preload` are done and the request models' validators
  built (both free after restore, instead of paid by the first request), and the database connection and cached
  secrets are dropped, so the snapshot holds neither a socket shared by every resumed environment nor a secret;
* after restore, before the first request: the database connection is dropped again (the next statement opens its
  own), the secret bundle is forgotten (re-read on first use, so rotations are seen), ``random`` is reseeded (its
  state was drawn once, at init: every resumed environment would draw the same numbers), and the boto3 clients are
  forgotten (their connection pools and credentials are per environment). ``uuid.uuid4`` and ``secrets`` read
  ``os.urandom`` at each call: unaffected.

A module with its own per-environment state (an HTTP client, a cached key set) registers its reset at its import::

    from odys import snapstart

    snapstart.after_restore(_clients.clear)     # e.g. a cache of clients: the next use builds a fresh one
    snapstart.preload("cryptography.hazmat.primitives.asymmetric.ec")  # lazy: in the snapshot, not the first request

Outside Lambda the library is absent: a stand-in registry with the runtime's order (before snapshot: reverse
registration order; after restore: registration order) keeps the hooks, and tests or benchmarks play them::

    snapstart.simulate_snapshot()    # what Lambda runs before taking the snapshot
    snapstart.simulate_restore()     # what it runs in a resumed environment, before its first request

Limits (AWS, docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html): before-snapshot hooks count
in init's limit (130 s, or the function's timeout if longer, up to 15 min); the restore and every after-restore
hook must end within 10 s, or the invocation fails with ``SnapStartTimeoutException``: hooks here only drop state.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from typing import Any

from odys import aws_clients, config, db

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_PRELOADS: list[str] = []
_before: list[Hook] = []  # the stand-in's registries (unused in Lambda, whose library keeps its own)
_after: list[Hook] = []

try:  # Lambda's managed runtime: it runs the hooks itself
    from snapshot_restore_py import register_after_restore as _register_after_restore
    from snapshot_restore_py import register_before_snapshot as _register_before_snapshot

    IN_LAMBDA = True
except ImportError:  # locally: the stand-in below, played by simulate_snapshot() / simulate_restore()
    IN_LAMBDA = False

    def _register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        _before.append((func, args, kwargs))
        return func

    def _register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        _after.append((func, args, kwargs))
        return func


def before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` just before Lambda snapshots this environment (hooks run newest first)."""
    return _register_before_snapshot(func, *args, **kwargs)


def after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` in each environment resumed from the snapshot, before its first request."""
    return _register_after_restore(func, *args, **kwargs)


def preload(*modules: str) -> None:
    """Import ``modules`` before the snapshot: a lazy import (kept off the plain cold start) that SnapStart gets free."""
    _PRELOADS.extend(m for m in modules if m not in _PRELOADS)


def simulate_snapshot() -> None:
    """Run the before-snapshot hooks as Lambda does (newest first). Only outside Lambda (the runtime runs its own)."""
    if IN_LAMBDA:
        raise RuntimeError("in Lambda the runtime runs the SnapStart hooks")
    for func, args, kwargs in reversed(_before):
        func(*args, **kwargs)


def simulate_restore() -> None:
    """Run the after-restore hooks as Lambda does (oldest first). Only outside Lambda (the runtime runs its own)."""
    if IN_LAMBDA:
        raise RuntimeError("in Lambda the runtime runs the SnapStart hooks")
    for func, args, kwargs in _after:
        func(*args, **kwargs)


def _import_preloads_and_build_validators() -> None:
    """The lazy imports, then the request models' validators (built on first use otherwise: odys.fields)."""
    for name in _PRELOADS:
        importlib.import_module(name)
    from odys import fields  # every HTTP function's models derive from its ApiModel

    fields.build_validators()


def _leave_nothing_per_environment() -> None:
    db.close()
    config.clear_cache()


def _forget_per_environment_state() -> None:
    db.close()
    config.clear_cache()
    config.system_tls_context.cache_clear()  # a TLS context (OpenSSL state) is built anew in each environment
    random.seed()  # from os.urandom: this environment's own sequence
    aws_clients.reset_all()


if config.env("ODYS_SECRETS_ID"):  # under SnapStart the secret bundle is read with boto3 (odys.config)
    preload("boto3")

# Before the snapshot hooks run newest first: every other module's hooks, then the preloads and the validators, then
# the drops.
# After restore, oldest first: these drops come before any module's own reset.
before_snapshot(_leave_nothing_per_environment)
before_snapshot(_import_preloads_and_build_validators)
after_restore(_forget_per_environment_state)
