"""A base for objects that hold a connection or process and must be closed (``with`` support).

Used by the edges: ``gitops.Workspace`` (GitPython's persistent git processes) and
``controlplane.client.GrpcSource`` (a gRPC channel). Long-running processes leak both otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self


class Closing:
    """``with obj:`` calls ``obj.close()`` on the way out, however the block ends."""

    def close(self) -> None:
        """Release what the object holds; subclasses override this."""

    def __enter__(self) -> Self:
        """Enter: the object is already open."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close."""
        self.close()
