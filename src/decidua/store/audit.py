"""Audit trail: one helper so every write records who, when, what, before/after."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from decidua.store import models as m


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    entity_key: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> m.AuditEvent:
    """Add one :class:`~decidua.store.models.AuditEvent` to the session's transaction."""
    event = m.AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        entity_key=entity_key,
        before=before,
        after=after,
    )
    session.add(event)
    return event
