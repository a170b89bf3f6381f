"""Where the service and its clients meet: endpoint addresses, the reply pattern, and the
context-manager protocol both socket owners share."""

from __future__ import annotations

from typing import Any, TypeVar

DEFAULT_ADDRESS = "tcp://127.0.0.1:5560"
REPLY_PATTERNS = ("push", "pub")


def check_address(address: str, name: str) -> None:
    """ValueError unless ``address`` is tcp://HOST:PORT, ipc://PATH or inproc://NAME."""
    ok = isinstance(address, str) and (
        address.startswith(("ipc://", "inproc://"))
        or (
            address.startswith("tcp://")
            and ":" in address[6:]
            and address.rsplit(":", 1)[1].isdigit()
        )
    )
    if not ok:
        raise ValueError(
            f"{name} must be tcp://HOST:PORT, ipc://PATH or inproc://NAME, got {address!r}"
        )


def reply_address_for(address: str) -> str:
    """The default reply endpoint: tcp port + 1, or ``<path>.reply`` for ipc/inproc."""
    check_address(address, "address")
    if address.startswith("tcp://"):
        host, port = address[6:].rsplit(":", 1)
        return f"tcp://{host}:{int(port) + 1}"
    return address + ".reply"


def reply_endpoint(address: str, reply_address: str | None) -> str:
    """``reply_address`` (checked), or the default one for ``address``."""
    reply_address = reply_address or reply_address_for(address)
    check_address(reply_address, "reply_address")
    return reply_address


def check_reply_pattern(reply_pattern: str) -> None:
    """ValueError unless replies travel by PUSH/PULL (``push``) or PUB/SUB (``pub``)."""
    if reply_pattern not in REPLY_PATTERNS:
        raise ValueError(f"reply_pattern must be 'push' or 'pub', got {reply_pattern!r}")


_S = TypeVar("_S", bound="SocketOwner")


class SocketOwner:
    """Something holding ZeroMQ sockets: ``with`` closes them through :meth:`close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
