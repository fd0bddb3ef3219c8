"""Sign-in by email address: the username is the email, compared case-insensitively."""
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        """Authenticate by email (or username) and password, with the timing of a real check when no user matches."""
        if username is None or password is None:
            return None
        User = get_user_model()
        user = User.objects.filter(email__iexact=username.strip()).order_by("pk").first()
        if user is None:
            User().set_password(password)  # spend the same time as a real check (no user enumeration by timing)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
