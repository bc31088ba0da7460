"""Fixtures shared by several unit-test modules.

A session fixture imported into each test module is made once per module (pytest registers it anew in
every module that holds it); registered here, it is made once per test process.
"""

from test_serving_support import champion_fixture  # noqa: F401  (the `champion` fixture)
