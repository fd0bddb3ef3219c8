"""The WSGI app the signature-page benchmark serves: the real URLs plus /bench/minimal/, a view that does nothing
but answer, as the ceiling to compare with. Used only by bench_signature_page.py (never by the product)."""
import os

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import include, path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()


def minimal(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/minimal/", minimal),
    path("", include("portal.urls")),
]

settings.ROOT_URLCONF = __name__

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after the URLconf is switched)

application = get_wsgi_application()
