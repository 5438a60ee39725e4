"""Email delivery from the outbox table over SMTP, when SMTP is configured.

Messages are written to the outbox in the same transaction as the change that caused them (an
invitation, say); ``deliver_outbox`` sends what is pending, one short transaction per message, so
a slow or failing mail server never holds a database transaction open. Without SMTP settings the
messages stay in the outbox (visible to an operator) and nothing is sent.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage

from terrascan.catalog.accounts import OutboxRepository
from terrascan.catalog.database import Catalog
from terrascan.catalog.models import OutboxMessage
from terrascan.settings import Settings

logger = logging.getLogger("terrascan.mail")
SMTP_TIMEOUT_S = 10


def _send(settings: Settings, message: OutboxMessage) -> None:
    email = EmailMessage()
    email["From"] = settings.smtp_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email.set_content(message.body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(email)


def deliver_outbox(catalog: Catalog, settings: Settings, *, limit: int = 50) -> int:
    """Send pending messages; returns how many were sent."""
    if not settings.smtp_host:
        return 0
    with catalog.session() as session:
        ids: list[uuid.UUID] = [m.id for m in OutboxRepository(session).pending(limit=limit)]
    sent = 0
    for message_id in ids:
        with catalog.session() as session:
            repo = OutboxRepository(session)
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != "pending":
                continue
            try:
                _send(settings, message)
            except (smtplib.SMTPException, OSError) as exc:
                logger.warning("email to outbox message %s failed: %s", message_id, exc)
                repo.mark_failed(message, f"{type(exc).__name__}: {exc}")
                continue
            repo.mark_sent(message)
            sent += 1
    return sent
