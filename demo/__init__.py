"""The demo: simulated providers on loopback, the page that drives them, and the seeded sample plan.

It sits above the domain (``batches``, ``signoffs``) and changes the plan only
through the domain's own actions.
"""
