from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("pages.urls")),
    path("", include("batches.urls")),
    # The simulator page: answers 404 unless runportal runs the simulated providers.
    path("", include("demo.urls")),
    # The read-only JSON API (personal tokens, not sessions).
    path("api/", include("api.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

# A database that cannot be reached outside a view (a session lookup, say) gets the 503 page too.
handler500 = "portal.middleware.server_error"
