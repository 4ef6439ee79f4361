"""The one exception an inventory or labgrid environment raises: ``FILE:LINE: FIELD: problem``."""

from __future__ import annotations


class InventoryError(Exception):
    """A mistake in an inventory (or labgrid environment) file.

    ``source``, ``line`` (1-based, 0 when unknown) and ``field`` (dotted path) are also attributes.
    """

    def __init__(self, source: str, line: int, field_path: str, problem: str) -> None:
        self.source, self.line, self.field, self.problem = source, line, field_path, problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field_path}: {problem}" if field_path else f"{where}: {problem}")


def require_labgrid(why: str):
    """Import labgrid (the ``labgrid`` extra); a missing install is this clear error, never an ImportError trace."""
    try:
        import labgrid
    except ImportError:
        raise InventoryError("labgrid", 0, "", f"{why} needs labgrid, which is not installed: "
                             "pip install -e '.[labgrid]' in the checkout (see hardware.md)") from None
    return labgrid
