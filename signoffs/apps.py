from __future__ import annotations

import warnings

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_role_groups(*, using: str = "default", **kwargs) -> None:
    """Make sure the four role groups exist.

    Migration 0002 creates them; this also runs after every migrate and after a
    database flush (which is what a transactional test's teardown does), the
    same way Django keeps content types and permissions present.
    """
    from django.contrib.auth.models import Group

    from portal.roles import Role

    for role in Role.values:
        Group.objects.using(using).get_or_create(name=role)


class SignoffsConfig(AppConfig):
    name = "signoffs"

    def ready(self) -> None:
        from django.conf import settings

        post_migrate.connect(ensure_role_groups, sender=self, dispatch_uid="signoffs.ensure_role_groups")
        from PIL import Image

        # Pillow's own bomb guard, for every decode in the process (thumbnails,
        # admin, anything added later), not only the evidence checks that also
        # compare the header's pixel count with the setting themselves.
        Image.MAX_IMAGE_PIXELS = settings.EVIDENCE_MAX_PIXELS
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; a warning
        # does not stop a decode, so make it an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
