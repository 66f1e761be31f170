from __future__ import annotations

from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.home, name="home"),
    path("plans/<slug:slug>/", views.plan_overview, name="plan"),
    path("plans/<slug:slug>/batches/<int:number>/", views.batch_review, name="batch"),
]
