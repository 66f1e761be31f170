"""/api/: the JSON API's URLs. Token-authenticated, so exempt from the session login redirect."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern

from api.endpoints import api

_patterns, _app, _namespace = api.urls
app_name = "api"
# LoginRequiredMiddleware would send a token caller to the login page; the API answers 401 itself.
for _pattern in _patterns:
    if isinstance(_pattern, URLPattern) and _pattern.callback is not None:
        login_not_required(_pattern.callback)
urlpatterns = _patterns
