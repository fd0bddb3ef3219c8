from django.urls import path

from tenants import views

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
    path("o/<slug:org_slug>/integration/", views.link_list, name="link_list"),
]
