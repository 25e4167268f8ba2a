from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("models", views.CatalogModelViewSet, basename="catalogmodel")
router.register("gpu-types", views.GpuTypeViewSet, basename="gputype")
urlpatterns = router.urls
