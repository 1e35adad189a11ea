"""SQL storage tests (a package, so that its conftest.py has a module name of its own)."""
