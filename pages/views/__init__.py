"""One module per page family; each view checks access first (``pages.access``), then calls one thing."""
