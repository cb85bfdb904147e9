"""The root of optdsl's exception tree: every error optdsl raises on purpose is an ``OptDSLError``."""


class OptDSLError(Exception):
    """Base class of optdsl's own errors; catch it to handle any of them."""
