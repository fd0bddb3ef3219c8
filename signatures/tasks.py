"""Background work of the signatures app: email employees a signed link to their signature page."""
from celery import shared_task
from django.contrib.auth import get_user_model

from signatures import links
from tenants.models import Organization


# Mail servers fail in ways that heal (smtplib's errors are OSErrors); a retry skips whoever was already mailed.
@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def send_signature_links(organization_id: int, employee_ids: list[int] | None, sent_by_id: int | None) -> int:
    """Mail a signed link to the given employees of one organisation (None: every active one)."""
    organization = Organization.objects.get(pk=organization_id)
    sender = get_user_model().objects.filter(pk=sent_by_id).first() if sent_by_id else None
    return links.email_links(organization, employee_ids, sender)
