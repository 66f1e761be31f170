"""Links that come from outside (provider payloads) become hrefs only when they are https."""

from __future__ import annotations

from urllib.parse import urlsplit


def https_or_blank(url: str | None) -> str:
    """``url`` when it is an absolute ``https://`` URL with a host; otherwise ``""`` (no link).

    A provider's ``html_url``/``target_url``/``permalink`` is whatever the payload
    says: a ``javascript:`` or ``data:`` URL in an ``href`` runs in the portal's
    origin when clicked, and a plain ``http://`` one leaks the click.
    """
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() != "https" or not parts.hostname or any(c in url for c in "\r\n\t "):
        return ""
    return url
