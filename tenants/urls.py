from django.urls import path

from tenants import link_views, views

app_name = "tenants"

urlpatterns = [
    path("organisations/new/", views.org_create, name="org_create"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("o/<slug:org_slug>/settings/", views.org_settings, name="org_settings"),
    path("o/<slug:org_slug>/members/", views.member_list, name="member_list"),
    path("o/<slug:org_slug>/members/<int:membership_id>/role/", views.member_update, name="member_update"),
    path("o/<slug:org_slug>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("o/<slug:org_slug>/invitations/<int:invitation_id>/revoke/", views.invitation_revoke,
         name="invitation_revoke"),
    path("o/<slug:org_slug>/integration/", link_views.link_list, name="link_list"),
    path("o/<slug:org_slug>/integration/consent/", link_views.link_consent_start, name="link_consent_start"),
    path("o/<slug:org_slug>/integration/own-app/", link_views.link_own_app, name="link_own_app"),
    path("o/<slug:org_slug>/integration/<int:link_id>/edit/", link_views.link_edit, name="link_edit"),
    path("o/<slug:org_slug>/integration/<int:link_id>/check/", link_views.link_check, name="link_check"),
    path("o/<slug:org_slug>/integration/<int:link_id>/unlink/", link_views.link_unlink, name="link_unlink"),
    path("o/<slug:org_slug>/integration/<int:link_id>/relink/", link_views.link_relink, name="link_relink"),
    path("o/<slug:org_slug>/integration/<int:link_id>/delete/", link_views.link_delete, name="link_delete"),
    # One fixed URL for every organisation (Microsoft redirects to the registered URI); no trailing slash, as
    # registered on the app (entra_emulator/testing.py PORTAL_REDIRECT_URIS).
    path("entra/consent/callback", link_views.link_consent_callback, name="link_consent_callback"),
]
