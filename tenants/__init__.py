"""The bottom floor: the roster model, plans, names, states, emails, the tenant bucket layout.

Imports nothing of the project: every other package may import it (the import contract in pyproject.toml).
"""
