from django.urls import path

from . import advisor_views, batch_views, inventory_views, views

app_name = "billing"
urlpatterns = [
    path("", views.costs_home, name="costs_home"),
    path("teams/<slug:slug>/", views.team_costs, name="team_costs"),
    path("teams/<slug:slug>/savings/", advisor_views.savings_advisor, name="savings_advisor"),
    path(
        "teams/<slug:slug>/savings/dismiss/", advisor_views.savings_dismiss, name="savings_dismiss"
    ),
    path("platform/", views.platform_costs, name="platform_costs"),
    path("platform/gpus/", inventory_views.gpu_inventory, name="gpu_inventory"),
    path("platform/close/", views.month_close, name="month_close"),
    path("platform/reopen/", views.month_reopen, name="month_reopen"),
    path("statements/<uuid:uuid>/", views.statement_detail, name="statement_detail"),
    path("statements/<uuid:uuid>/csv/", views.statement_csv, name="statement_csv"),
    path(
        "batch-jobs/<uuid:uuid>/reference/",
        batch_views.batch_job_reference,
        name="batch_job_reference",
    ),
]
