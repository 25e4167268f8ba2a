from rest_framework.routers import DefaultRouter

from deployments.routing.api.views import RouteViewSet

router = DefaultRouter()
router.register("routes", RouteViewSet, basename="route")
urlpatterns = router.urls
