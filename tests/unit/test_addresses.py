"""host:port parsing: a typo is an error that says what is wrong, never a wrong port."""

from __future__ import annotations

import pytest

from stigmer.addresses import Address, AddressError, check_address, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:7234", Address("127.0.0.1", 7234)),
        (" localhost:1 ", Address("localhost", 1)),
        ("[::1]:65535", Address("::1", 65535)),
        ("stigmer.example:443", Address("stigmer.example", 443)),
    ],
)
def test_valid_addresses(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (":99999", "port 99999 is out of range (1-65535)"),
        (":0", "port 0 is out of range (1-65535)"),
        ("127.0.0.1:0", "port 0 is out of range"),
        ("127.0.0.1", "has no port"),
        ("127.0.0.1:", "port '' is not a number"),
        ("127.0.0.1:http", "port 'http' is not a number"),
        (":7234", "has no host"),
        ("", "the address is empty"),
        ("::1:7234", "write an IPv6 host in brackets"),
        ("[::1]7234", "is not HOST:PORT"),
    ],
)
def test_invalid_addresses_say_why(text: str, reason: str) -> None:
    with pytest.raises(AddressError) as error:
        parse_address(text)
    assert reason in str(error.value)


def test_check_names_the_source() -> None:
    assert check_address(" 127.0.0.1:1 ", "--server") == "127.0.0.1:1"
    with pytest.raises(AddressError, match=r"^STIGMER_SERVER_ADDR: '127.0.0.1:99999': port 99999"):
        check_address("127.0.0.1:99999", "STIGMER_SERVER_ADDR")


def test_str_and_loopback() -> None:
    assert str(Address("::1", 7233)) == "[::1]:7233"
    assert Address("127.0.0.2", 1).is_loopback and Address("localhost", 1).is_loopback
    assert not Address("10.0.0.1", 1).is_loopback
