from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("endpoints", views.EndpointViewSet, basename="endpoint")
router.register("approvals", views.ApprovalViewSet, basename="approval")
router.register("models", views.CatalogModelViewSet, basename="catalogmodel")
router.register("gpu-types", views.GpuTypeViewSet, basename="gputype")
urlpatterns = router.urls
