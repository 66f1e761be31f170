"""The portal's HTML pages, above the domain apps.

Views, the read-models they render, the upload handlers and the page URLs
live here; ``batches`` and ``signoffs`` hold the rules and never import this
package. A JSON API would sit beside it and reuse ``pages.readmodels``.
"""
