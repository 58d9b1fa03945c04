"""The service's version: one place, read by setup.cfg, the package and the OpenAPI document."""

__version__ = "0.1.0"
