"""Helpers of the linking and consent tests: what the link attempts recorded."""
from tenants.models import EntraLink, LinkAttempt


def outcomes():
    return list(LinkAttempt.objects.values_list("outcome", flat=True))


def assert_nothing_linked(outcome):
    assert not EntraLink.objects.exists()
    assert outcome in outcomes()
