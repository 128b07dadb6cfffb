"""SQL of a professional's template overrides (table ``message_templates``): switched off, or reworded.

One row per (professional, key, locale): ``body`` is the reworded free-form text (NULL: the default text) and
``enabled`` is false when the professional switched the template off (kept equal on every locale's row of a key)::

    from odys.store import message_templates as overrides
    overrides.is_enabled(pid, "msgReminder24h")             # False once switched off (no row: True)
    overrides.text_override(pid, "msgReminder24h", "pt-BR")  # "Oi {client_name}! …" or None
    overrides.effective(pid, "pt-BR")   # [{"key", "enabled", "text" (effective), "override": bool}] — all 19
    overrides.save(pid, "msgReminder24h", "pt-BR", enabled=False)                 # body untouched
    overrides.save(pid, "msgReminder24h", "pt-BR", body=None)                     # back to the default text
"""

from __future__ import annotations

from typing import Any

from odys import db

_KEEP = object()


def is_enabled(professional_id: str, key: str) -> bool:
    """Whether ``key`` may be sent for this professional (the sender asks at send time)."""
    return bool(db.scalar("SELECT coalesce(bool_and(enabled), true) FROM message_templates "
                          "WHERE professional_id = :pid AND key = :key", pid=professional_id, key=key))


def text_override(professional_id: str, key: str, locale: str) -> str | None:
    """The professional's wording of ``key`` in ``locale`` (free-form variant), or None for the default text."""
    return db.scalar("SELECT body FROM message_templates WHERE professional_id = :pid AND key = :key "
                     "AND locale = :locale", pid=professional_id, key=key, locale=locale)


def rows(professional_id: str, locale: str) -> list[dict[str, Any]]:
    """Every override row of the professional: ``key``, ``locale``, ``body``, ``enabled``, ``updated_at``.

    ``body`` is only kept for ``locale``'s rows (other locales' rows still count for ``enabled``).
    """
    return db.all("SELECT key, locale, CASE WHEN locale = :locale THEN body END AS body, enabled, updated_at "
                  "FROM message_templates WHERE professional_id = :pid ORDER BY key, locale",
                  pid=professional_id, locale=locale)


def effective(professional_id: str, locale: str) -> list[dict[str, Any]]:
    """Each of the 19 templates (the file's order) as this professional has it: ``key``, ``enabled``, ``text``
    (the override, else the default text of ``locale``) and ``override`` (whether the text is reworded)."""
    from odys import message_templates

    locale = message_templates.resolve_locale(locale)
    enabled: dict[str, bool] = {}
    bodies: dict[str, str] = {}
    for row in rows(professional_id, locale):
        enabled[row["key"]] = enabled.get(row["key"], True) and row["enabled"]
        if row["body"] is not None:
            bodies[row["key"]] = row["body"]
    return [{"key": key, "enabled": enabled.get(key, True), "text": bodies.get(key, template.text),
             "override": key in bodies}
            for key, template in message_templates.TEMPLATES[locale].items()]


def save(professional_id: str, key: str, locale: str, *, enabled: bool | None = None,
         body: Any = _KEEP) -> None:
    """Change the override of ``key``: ``enabled`` (every locale's row), ``body`` (this locale; None = default).

    Rows left with nothing to say (default text, enabled) are deleted. Call inside ``db.transaction()``.
    """
    current = db.one("SELECT body, enabled FROM message_templates WHERE professional_id = :pid AND key = :key "
                     "AND locale = :locale FOR UPDATE", pid=professional_id, key=key, locale=locale)
    new_body = (current or {}).get("body") if body is _KEEP else body
    new_enabled = enabled if enabled is not None else is_enabled(professional_id, key)
    db.run("INSERT INTO message_templates (professional_id, key, locale, body, enabled) "
           "VALUES (:pid, :key, :locale, :body, :enabled) ON CONFLICT (professional_id, key, locale) "
           "DO UPDATE SET body = EXCLUDED.body, enabled = EXCLUDED.enabled, updated_at = now()",
           pid=professional_id, key=key, locale=locale, body=new_body, enabled=new_enabled)
    if enabled is not None:
        db.run("UPDATE message_templates SET enabled = :enabled, updated_at = now() "
               "WHERE professional_id = :pid AND key = :key AND enabled <> :enabled",
               pid=professional_id, key=key, enabled=enabled)
    db.run("DELETE FROM message_templates WHERE professional_id = :pid AND key = :key AND body IS NULL "
           "AND enabled", pid=professional_id, key=key)
