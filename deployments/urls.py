from django.urls import path

from deployments import approvals
from deployments.batch import views as batch_views
from deployments.endpoints import catalog_views, metrics_views, views
from deployments.endpoints import tab_views as endpoint_views
from deployments.nodepools import views as nodepool_views
from deployments.routing import views as route_views

app_name = "deployments"
urlpatterns = [
    path("models/", catalog_views.model_catalog_page, name="model_catalog"),
    path("platform/node-pools/", nodepool_views.node_pools, name="node_pools"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/new/estimate/", views.endpoint_estimate, name="endpoint_estimate"),
    path("endpoints/<uuid:uuid>/", views.endpoint_detail, name="endpoint_detail"),
    path("endpoints/<uuid:uuid>/status/", views.endpoint_status, name="endpoint_status"),
    path("endpoints/<uuid:uuid>/metrics/", metrics_views.endpoint_metrics, name="endpoint_metrics"),
    path("endpoints/<uuid:uuid>/use/", endpoint_views.endpoint_use, name="endpoint_use"),
    path(
        "endpoints/<uuid:uuid>/playground/",
        endpoint_views.endpoint_playground,
        name="endpoint_playground",
    ),
    path("endpoints/<uuid:uuid>/yaml/", endpoint_views.endpoint_yaml, name="endpoint_yaml"),
    path("endpoints/<uuid:uuid>/pods/", endpoint_views.endpoint_pods, name="endpoint_pods"),
    path("endpoints/<uuid:uuid>/scale/", views.endpoint_scale, name="endpoint_scale"),
    path("endpoints/<uuid:uuid>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<uuid:uuid>/stop/", views.endpoint_stop, name="endpoint_stop"),
    path("endpoints/<uuid:uuid>/start/", views.endpoint_start, name="endpoint_start"),
    path("endpoints/<uuid:uuid>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("endpoints/<uuid:uuid>/approve/", views.endpoint_approve, name="endpoint_approve"),
    path("endpoints/<uuid:uuid>/reject/", views.endpoint_reject, name="endpoint_reject"),
    path("approvals/", approvals.approval_list, name="approval_list"),
    path("routes/", route_views.route_list, name="route_list"),
    path("routes/new/", route_views.route_create, name="route_create"),
    path("routes/preview/", route_views.route_preview, name="route_preview"),
    path("routes/<uuid:uuid>/", route_views.route_detail, name="route_detail"),
    path("routes/<uuid:uuid>/status/", route_views.route_status, name="route_status"),
    path("routes/<uuid:uuid>/approve/", route_views.route_approve, name="route_approve"),
    path("routes/<uuid:uuid>/reject/", route_views.route_reject, name="route_reject"),
    path("routes/<uuid:uuid>/delete/", route_views.route_delete, name="route_delete"),
    path("batch-jobs/", batch_views.batch_job_list, name="batch_job_list"),
    path("batch-jobs/new/", batch_views.batch_job_create, name="batch_job_create"),
    path("batch-jobs/new/estimate/", batch_views.batch_job_estimate, name="batch_job_estimate"),
    path("batch-jobs/<uuid:uuid>/", batch_views.batch_job_detail, name="batch_job_detail"),
    path("batch-jobs/<uuid:uuid>/status/", batch_views.batch_job_status, name="batch_job_status"),
    path(
        "batch-jobs/<uuid:uuid>/<slug:action>/",
        batch_views.batch_job_action,
        name="batch_job_action",
    ),
]
