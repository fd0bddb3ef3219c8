from tenants.models import Membership


def organizations(request):
    """The signed-in user's organisations, for the switcher in the navigation bar."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "my_memberships": Membership.objects.filter(user=request.user).select_related("organization")
        .order_by("organization__name"),
    }
