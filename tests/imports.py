"""Reading a module's imports from its source, for the layering tests."""

from __future__ import annotations

import ast


def imported_modules(source: str, *, module: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports, absolute, with its line: ``import``, ``from … import`` (relative
    ones resolved against ``module``) and ``importlib.import_module``/``__import__`` with a literal name."""
    found: list[tuple[int, str]] = []
    package_parts = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # ``from django import db`` imports the module django.db.
            found += [(node.lineno, f"{name}.{alias.name}" if name else alias.name) for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((node.lineno, first.value))
    return found
