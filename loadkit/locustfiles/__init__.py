"""Locustfiles shipped inside the package, used by `loadkit run` when no -f is given."""
