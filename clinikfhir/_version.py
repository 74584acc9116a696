"""The package version: one definition, read by the User-Agent, the sandbox and the command line."""

__version__ = "0.1.0"
