"""Background work of the tenants app: warn admins before an own app's secret or certificate expires."""
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from tenants.models import EXPIRY_EXPIRED, EXPIRY_RANK, EntraLink, Membership, Role


def send_expiry_warnings(today=None) -> int:
    """Mail the owners and admins of each organisation whose link crossed an expiry threshold (30 days, 7 days,
    expired) since its last warning; each threshold is mailed once. A renewed credential re-arms the warnings.
    Returns the number of links warned about."""
    today = today or timezone.localdate()
    warned = 0
    candidates = EntraLink.objects.exclude(status=EntraLink.Status.UNLINKED).exclude(
        auth_method=EntraLink.AuthMethod.ADMIN_CONSENT)
    for link_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            # Locked so that two beat runs (or a retry) never mail the same threshold twice.
            link = EntraLink.objects.select_for_update().select_related("organization").get(pk=link_id)
            threshold = link.expiry_threshold(today)
            if EXPIRY_RANK[threshold] <= EXPIRY_RANK.get(link.expiry_notified, 0):
                if not threshold and link.expiry_notified:
                    link.expiry_notified = ""
                    link.save(update_fields=["expiry_notified", "updated_at"])
                continue
            _mail_warning(link, threshold)
            link.expiry_notified = threshold
            link.save(update_fields=["expiry_notified", "updated_at"])
            warned += 1
    return warned


def _mail_warning(link, threshold):
    recipients = list(
        Membership.objects.for_org(link.organization).filter(role__in=[Role.OWNER, Role.ADMIN])
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return
    what = "certificate" if link.auth_method == EntraLink.AuthMethod.CERTIFICATE else "client secret"
    when = date_format(link.credential_expires_on, "j F Y")
    url = settings.SITE_URL + reverse("tenants:link_list", args=[link.organization.slug])
    if threshold == EXPIRY_EXPIRED:
        subject = f"Signet: the {what} of {link.name} expired on {when}"
        body = (f"The {what} that Signet uses to read {link.tenant_name or link.tenant_id} expired on {when}, so "
                "syncs of this tenant fail.\n\n")
    else:
        subject = f"Signet: the {what} of {link.name} expires on {when}"
        body = f"The {what} that Signet uses to read {link.tenant_name or link.tenant_id} expires on {when}.\n\n"
    body += (f"Create a new {what} in the app registration's Certificates & secrets page (Microsoft Entra admin "
             f"center) and save it on Signet's Integration page:\n{url}\n")
    send_mail(subject, body, None, recipients)


@shared_task
def warn_expiring_secrets() -> int:
    """Daily: mail expiry warnings (see send_expiry_warnings)."""
    return send_expiry_warnings()
