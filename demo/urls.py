from __future__ import annotations

from django.urls import path

from demo import views

app_name = "demo"

urlpatterns = [
    path("demo/providers/", views.simulator_page, name="providers"),
    path("demo/providers/act/", views.simulator_act, name="providers-act"),
]
