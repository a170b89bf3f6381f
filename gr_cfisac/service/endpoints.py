"""Where the service and its clients meet: endpoint addresses, which of them stay on this host,
the stock-block reply patterns, and the context-manager protocol both socket owners share."""

from __future__ import annotations

import ipaddress
from typing import Any, TypeVar

DEFAULT_ADDRESS = "tcp://127.0.0.1:5560"
#: How replies reach GNU Radio's stock message blocks: neither can route a reply to its requester.
STOCK_REPLY_PATTERNS = ("push", "pub")


def check_address(address: str, name: str, bind: bool = False) -> None:
    """ValueError unless ``address`` is tcp://HOST:PORT, ipc://PATH or inproc://NAME (PORT may
    be ``*``, an ephemeral port, where the address is bound)."""
    ok = isinstance(address, str) and (
        address.startswith(("ipc://", "inproc://"))
        or (
            address.startswith("tcp://")
            and ":" in address[6:]
            and (address.rsplit(":", 1)[1].isdigit() or (bind and address.rsplit(":", 1)[1] == "*"))
        )
    )
    if not ok:
        port = "PORT or tcp://HOST:*" if bind else "PORT"
        raise ValueError(
            f"{name} must be tcp://HOST:{port}, ipc://PATH or inproc://NAME, got {address!r}"
        )


def is_local(address: str) -> bool:
    """True if only this host can reach ``address``: ipc, inproc, or tcp on a loopback address
    (127.0.0.0/8, ::1, localhost). ``*``, 0.0.0.0, interface names and other hosts are not."""
    if address.startswith(("ipc://", "inproc://")):
        return True
    host = address[6:].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # '*', an interface name (eth0) or a host name
        return False


def exposure_warning(address: str, curve: bool) -> str | None:
    """The warning for binding ``address`` without CURVE where other hosts can reach it."""
    if curve or is_local(address):
        return None
    return (
        f"{address} is reachable from other hosts and CURVE is off: anyone who can reach it "
        "can use this precoder. Bind tcp://127.0.0.1:PORT, or turn on CURVE authentication "
        "(cfisac serve --keygen DIR, then --curve-secret and --curve-clients)"
    )


def reply_address_for(address: str) -> str:
    """The default stock reply endpoint: tcp port + 1 (``*`` stays ``*``), or ``<path>.reply``
    for ipc/inproc."""
    check_address(address, "address", bind=True)
    if address.startswith("tcp://"):
        host, port = address[6:].rsplit(":", 1)
        return f"tcp://{host}:{port if port == '*' else int(port) + 1}"
    return address + ".reply"


def check_stock_endpoints(address: str, reply_address: str | None) -> str:
    """The stock reply endpoint (default: :func:`reply_address_for`), after checking both
    are on loopback: replies to the stock message blocks travel unrouted and unauthenticated."""
    check_address(address, "stock_address", bind=True)
    reply_address = reply_address or reply_address_for(address)
    check_address(reply_address, "stock_reply_address", bind=True)
    for name, a in (("stock_address", address), ("stock_reply_address", reply_address)):
        if not is_local(a):
            raise ValueError(
                f"{name} {a} is not on loopback: replies to the stock message blocks travel "
                "unrouted (PUSH/PUB) and unauthenticated, so they stay on this host; use "
                "tcp://127.0.0.1:PORT or ipc://PATH, and RemotePrecoder (routed, CURVE) "
                "across hosts"
            )
    return reply_address


def check_stock_reply_pattern(pattern: str) -> None:
    """ValueError unless stock-block replies travel by PUSH/PULL (``push``) or PUB/SUB (``pub``)."""
    if pattern not in STOCK_REPLY_PATTERNS:
        raise ValueError(f"stock_reply_pattern must be 'push' or 'pub', got {pattern!r}")


_S = TypeVar("_S", bound="SocketOwner")


class SocketOwner:
    """Something holding ZeroMQ sockets: ``with`` closes them through :meth:`close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
