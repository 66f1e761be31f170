from __future__ import annotations

import warnings

from django.apps import AppConfig


class SignoffsConfig(AppConfig):
    name = "signoffs"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow's own bomb guard, for every decode in the process (thumbnails,
        # admin, anything added later), not only the evidence checks that also
        # compare the header's pixel count with the setting themselves.
        Image.MAX_IMAGE_PIXELS = settings.EVIDENCE_MAX_PIXELS
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; a warning
        # does not stop a decode, so make it an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
