"""The audit log: one call per admin change, made by the view (or domain function) that makes it."""
import logging

from portal.models import AuditEvent

logger = logging.getLogger("signet.audit")

# Keys whose values never go into the log, whatever a caller passes.
_SECRET_KEYS = {"client_secret", "secret", "password", "private_key", "passphrase", "token", "access_token"}


def _scrub(value):
    if isinstance(value, dict):
        return {k: ("[hidden]" if k.lower() in _SECRET_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def record(organization, actor, action: str, target: str = "", **details) -> AuditEvent:
    """Append an audit event (and log it); secret-looking keys in `details` are replaced by "[hidden]"."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent.objects.create(
        organization=organization, actor=user, actor_email=getattr(user, "email", "") or "",
        action=action, target=str(target)[:200], details=_scrub(details),
    )
    logger.info("audit %s target=%r", action, event.target,
                extra={"org": organization.slug, "actor": event.actor_email or "system"})
    return event
