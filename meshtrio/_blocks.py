"""Helpers for the ``async with`` blocks that own meshes (the meshes layer).

* :func:`async_context_manager` is :func:`contextlib.asynccontextmanager` whose result,
  awaited by mistake, raises a TypeError that says to use ``async with``.
* :class:`Captured` holds a block's exception so that it can be re-raised, unwrapped, outside
  the nursery that would otherwise group it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, Generic, NoReturn, ParamSpec, TypeVar

import trio

__all__ = ["Captured", "async_context_manager"]

P = ParamSpec("P")
T = TypeVar("T")


class _AsyncContext(Generic[T]):
    """An async context manager that refuses ``await`` with a message saying ``async with``."""

    __slots__ = ("_cm", "_name")

    def __init__(self, cm: contextlib.AbstractAsyncContextManager[T], name: str) -> None:
        self._cm = cm
        self._name = name

    async def __aenter__(self) -> T:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self._cm.__aexit__(*exc_info)

    def __await__(self) -> Generator[Any, None, NoReturn]:
        raise TypeError(
            f"meshtrio.{self._name}(...) is an async context manager: use "
            f"`async with meshtrio.{self._name}(...) as mesh:` (not `await`), so that the "
            "mesh is cleaned up when the block ends"
        )

    def __repr__(self) -> str:
        return f"<async context manager meshtrio.{self._name}(...): use it with `async with`>"


def async_context_manager(
    fn: Callable[P, AsyncIterator[T]],
) -> Callable[P, contextlib.AbstractAsyncContextManager[T]]:
    """:func:`contextlib.asynccontextmanager`, whose result refuses ``await`` helpfully."""
    make = contextlib.asynccontextmanager(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> contextlib.AbstractAsyncContextManager[T]:
        return _AsyncContext(make(*args, **kwargs), fn.__name__)

    # help() and signatures show what it is: an async context manager, not an iterator.
    sig = inspect.signature(fn)
    ret = sig.return_annotation
    if isinstance(ret, str) and ret.startswith("AsyncIterator["):
        ret = "AbstractAsyncContextManager[" + ret[len("AsyncIterator[") :]
    wrapper.__signature__ = sig.replace(return_annotation=ret)  # type: ignore[attr-defined]
    doc = inspect.cleandoc(fn.__doc__ or "")
    wrapper.__doc__ = (
        f"An async context manager: ``async with meshtrio.{fn.__name__}(...) as mesh:``.\n\n" + doc
    )
    return wrapper


class Captured:
    """The exception a block raised, held so it can be re-raised outside a nursery.

    An ``async with`` helper that yields inside its own nursery (``open_*``, the mesh session)
    must not let the body's exception leave through that nursery, which would wrap it in an
    ``ExceptionGroup``; it also has cleanup to run whatever the body did. The pattern::

        captured = Captured()
        async with trio.open_nursery() as nursery:
            with captured:
                yield value  # the body's exception stops here
            ...  # cleanup, which may look at ``captured.exc``
            nursery.cancel_scope.cancel()
        captured.reraise()  # outside the nursery: the body's exception as it was raised

    Every :class:`BaseException` is captured (``Cancelled``, ``KeyboardInterrupt``,
    ``GeneratorExit`` too): the cleanup runs, then it goes on as it came.
    """

    def __init__(self) -> None:
        self.exc: BaseException | None = None

    def __enter__(self) -> Captured:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        if exc is not None:
            self.exc = exc
        return True

    @property
    def cancelled(self) -> bool:
        """True if the block was cancelled (a ``trio.Cancelled``, alone or in a group)."""
        exc = self.exc
        return isinstance(exc, trio.Cancelled) or (
            isinstance(exc, BaseExceptionGroup)
            and exc.subgroup(lambda e: isinstance(e, trio.Cancelled)) is not None
        )

    def reraise(self) -> None:
        """Raise the captured exception, if any (call it outside the nursery)."""
        if self.exc is not None:
            raise self.exc
