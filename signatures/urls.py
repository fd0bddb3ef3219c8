from django.urls import path

from signatures import employee_page_views, views

app_name = "signatures"

urlpatterns = [
    # Employees themselves, first because they are the busiest URLs: a signed link, or Microsoft sign-in
    # (the callback path is the one registered on the app).
    path("s/<str:token>/", employee_page_views.page_by_link, name="page_by_link"),
    path("s/<str:token>/signature.htm", employee_page_views.download_by_link, name="download_by_link"),
    path("signature/", employee_page_views.signature_home, name="signature_home"),
    path("signature/signature.htm", employee_page_views.signature_download, name="signature_download"),
    path("signature/signin/", employee_page_views.signin_start, name="signin_start"),
    path("signature/signin/callback/", employee_page_views.signin_callback, name="signin_callback"),
    path("signature/signout/", employee_page_views.signout, name="signout"),
    # Photos inside signatures: public (mail clients fetch them), at an unguessable address.
    path("p/<uuid:uid>.jpg", employee_page_views.photo, name="photo"),
    # Editors and admins: templates and assignment rules.
    path("o/<slug:org_slug>/signatures/templates/", views.template_list, name="template_list"),
    path("o/<slug:org_slug>/signatures/templates/new/", views.template_new, name="template_new"),
    path("o/<slug:org_slug>/signatures/templates/preview/", views.template_preview, name="template_preview"),
    path("o/<slug:org_slug>/signatures/templates/<int:template_id>/", views.template_edit, name="template_edit"),
    path("o/<slug:org_slug>/signatures/templates/<int:template_id>/duplicate/", views.template_duplicate,
         name="template_duplicate"),
    path("o/<slug:org_slug>/signatures/templates/<int:template_id>/delete/", views.template_delete,
         name="template_delete"),
    path("o/<slug:org_slug>/signatures/rules/", views.rule_list, name="rule_list"),
    path("o/<slug:org_slug>/signatures/rules/new/", views.rule_new, name="rule_new"),
    path("o/<slug:org_slug>/signatures/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("o/<slug:org_slug>/signatures/rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("o/<slug:org_slug>/signatures/rules/<int:rule_id>/move/<str:direction>/", views.rule_move,
         name="rule_move"),
    # Employees: editors see the resolved signature; admins create, copy, revoke and send links.
    path("o/<slug:org_slug>/signatures/employees/", views.employee_list, name="employee_list"),
    path("o/<slug:org_slug>/signatures/employees/search/", views.employee_search, name="employee_search"),
    path("o/<slug:org_slug>/signatures/employees/send-links/", views.links_send, name="links_send"),
    path("o/<slug:org_slug>/signatures/employees/<int:employee_id>/", views.employee_detail,
         name="employee_detail"),
    path("o/<slug:org_slug>/signatures/employees/<int:employee_id>/links/new/", views.employee_link_create,
         name="employee_link_create"),
    path("o/<slug:org_slug>/signatures/employees/<int:employee_id>/links/revoke/", views.employee_links_revoke,
         name="employee_links_revoke"),
]
