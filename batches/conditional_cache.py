"""The database behind the provider clients' conditional requests.

:class:`DatabaseConditionalStore` is the :class:`providers.http.ConditionalStore`
the portal hands to the GitHub client: one :class:`~batches.models.ConditionalCache`
row per URL, shared by every worker, so an idle sync pass is all 304s, which
GitHub does not count against the rate limit.
"""

from __future__ import annotations

from django.utils import timezone

from batches.models import ConditionalCache
from providers.http import Cached

_URL_MAX = ConditionalCache._meta.get_field("url").max_length or 1000
_ETAG_MAX = ConditionalCache._meta.get_field("etag").max_length or 300
_LAST_MODIFIED_MAX = ConditionalCache._meta.get_field("last_modified").max_length or 100


class DatabaseConditionalStore:
    """ETags, Last-Modified, Link and the last body of each GET, in ``ConditionalCache``."""

    def get(self, url: str) -> Cached | None:
        if len(url) > _URL_MAX:
            return None
        row = ConditionalCache.objects.filter(url=url).first()
        if row is None:
            return None
        return Cached(etag=row.etag, last_modified=row.last_modified, link=row.link, body=row.body)

    def put(self, url: str, *, etag: str, last_modified: str, link: str, body: str) -> None:
        if len(url) > _URL_MAX:
            # Longer than the column: PostgreSQL would refuse the row. Such a URL is just never conditional.
            return
        ConditionalCache.objects.update_or_create(
            url=url,
            defaults={
                "etag": etag[:_ETAG_MAX],
                "last_modified": last_modified[:_LAST_MODIFIED_MAX],
                "link": link,
                "body": body,
                "fetched_at": timezone.now(),
            },
        )
