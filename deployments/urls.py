from django.urls import path

app_name = "deployments"
urlpatterns: list = []
