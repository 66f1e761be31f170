"""The static files, as production serves them: collectstatic with the manifest storage succeeds."""

from __future__ import annotations

from django.core.management import call_command


def test_collectstatic_accepts_every_static_file(settings, tmp_path):
    # The manifest storage rewrites the URLs a file names and refuses one naming a missing file
    # (a vendored script's source map, say): production's collectstatic must not fail.
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "static" / "vendor" / "chartjs" / "chart.umd.min.js").exists()
    assert (tmp_path / "static" / "js" / "metrics.js").exists()
