"""The web console's fixture, from `console_fakes`."""

from console_fakes import console  # noqa: F401  (a fixture)
