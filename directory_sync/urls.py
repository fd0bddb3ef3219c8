from django.urls import path

from directory_sync import directory_views, settings_views, views

app_name = "directory_sync"

urlpatterns = [
    path("o/<slug:org_slug>/employees/", directory_views.employee_list, name="employee_list"),
    path("o/<slug:org_slug>/employees/export.csv", directory_views.employee_export, name="employee_export"),
    path(
        "o/<slug:org_slug>/employees/<int:employee_id>/",
        directory_views.employee_detail,
        name="employee_detail",
    ),
    path(
        "o/<slug:org_slug>/employees/<int:employee_id>/restore/",
        directory_views.employee_restore,
        name="employee_restore",
    ),
    path("o/<slug:org_slug>/groups/", directory_views.group_list, name="group_list"),
    path("o/<slug:org_slug>/groups/export.csv", directory_views.group_export, name="group_export"),
    path("o/<slug:org_slug>/contacts/", directory_views.contact_list, name="contact_list"),
    path("o/<slug:org_slug>/contacts/export.csv", directory_views.contact_export, name="contact_export"),
    path("o/<slug:org_slug>/sync/history/", views.run_list, name="run_list"),
    path("o/<slug:org_slug>/sync/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("o/<slug:org_slug>/sync/runs/<int:run_id>/<str:decision>/", views.run_decide, name="run_decide"),
    path("o/<slug:org_slug>/sync/links/<int:link_id>/sync-now/", views.link_sync_now, name="link_sync_now"),
    path("o/<slug:org_slug>/sync/links/<int:link_id>/progress/", views.link_progress, name="link_progress"),
    path("o/<slug:org_slug>/sync/links/<int:link_id>/panel/", views.link_panel, name="link_panel"),
    path(
        "o/<slug:org_slug>/sync/links/<int:link_id>/fields/", settings_views.fields_edit, name="fields_edit"
    ),
    path(
        "o/<slug:org_slug>/sync/links/<int:link_id>/email/",
        settings_views.email_rules_edit,
        name="email_rules_edit",
    ),
    path(
        "o/<slug:org_slug>/sync/links/<int:link_id>/filters/",
        settings_views.filters_edit,
        name="filters_edit",
    ),
    path(
        "o/<slug:org_slug>/sync/links/<int:link_id>/cleanup/",
        settings_views.cleanup_edit,
        name="cleanup_edit",
    ),
]
