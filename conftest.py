"""Root pytest configuration.

The workspace packages are imported here, before any test folder is collected: pytest's
importlib mode names `auth/tests/test_x.py` `auth.tests.test_x`, and without the real
`auth` package already imported it would stand an empty one in its place.
"""

import importlib

for package in ("common", "auth", "tickets", "orders", "expiration", "payments", "client"):
    importlib.import_module(package)
