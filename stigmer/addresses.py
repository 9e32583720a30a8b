"""``host:port`` addresses: parsed and checked once, so a typo is an error and never a wrong port.

Accepted: ``127.0.0.1:7234``, ``localhost:7234``, ``[::1]:7234``. Rejected, with the reason: a missing
host or port, a port that is not a number or is outside 1-65535 (port 0 would mean "any port", which
another process could not find).
"""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class AddressError(ValueError):
    """An address that cannot be used; the message says why."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach it (``127.*``, ``localhost``, ``::1``)."""
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def parse_address(text: str) -> Address:
    """Parse ``host:port``; raise :class:`AddressError` saying what is wrong."""
    raw = text.strip()
    if not raw:
        raise AddressError("the address is empty; expected HOST:PORT, e.g. 127.0.0.1:7234")
    if raw.startswith("["):
        host, bracket, rest = raw[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise AddressError(f"{text!r} is not HOST:PORT (an IPv6 host is written [::1]:7234)")
        port_text = rest[1:]
    else:
        host, colon, port_text = raw.rpartition(":")
        if not colon:
            raise AddressError(f"{text!r} has no port; expected HOST:PORT, e.g. {raw}:7234")
        if ":" in host:
            raise AddressError(f"{text!r} is ambiguous; write an IPv6 host in brackets: [{host}]:{port_text}")
    if not port_text.isdigit():
        raise AddressError(f"{text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise AddressError(f"{text!r}: port {port} is out of range (1-65535)")
    if not host:
        raise AddressError(f"{text!r} has no host; expected HOST:PORT, e.g. 127.0.0.1{raw}")
    return Address(host, port)


def check_address(text: str, source: str) -> str:
    """``text`` unchanged when it is a valid address, else :class:`AddressError` naming ``source``."""
    try:
        parse_address(text)
    except AddressError as exc:
        raise AddressError(f"{source}: {exc}") from None
    return text.strip()
