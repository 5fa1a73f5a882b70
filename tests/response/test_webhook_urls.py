"""Which webhook URLs a status page subscription takes (warroom.response.statuspages.subscribers.webhook_url): public
https receivers by name or by public address; never an address inside a private network or this machine."""

from __future__ import annotations

import pytest

from warroom.response.statuspages.subscribers import SubscribeRefused, webhook_url
from warroom.settings import Settings


@pytest.mark.parametrize("url", ["https://hooks.example.com/status", "https://8.8.8.8/hook",
                                 "https://[2606:4700:4700::1111]/hook", "https://hooks.example.com:8443/x?key=1"])
def test_public_receivers_are_taken(url: str) -> None:
    assert webhook_url(f"  {url} ", Settings()) == url


@pytest.mark.parametrize("url", ["https://10.0.0.5/x", "https://172.16.3.4/x", "https://192.168.1.1/x",
                                 "https://127.0.0.1:8443/x", "https://169.254.169.254/latest/meta-data",
                                 "https://100.64.0.1/x", "https://[::1]/x", "https://[fe80::1]/x",
                                 "https://[::ffff:10.0.0.1]/x", "https://224.0.0.1/x", "https://localhost/x"])
def test_internal_addresses_are_refused_with_what_to_do(url: str) -> None:
    with pytest.raises(SubscribeRefused, match=r"private network or this machine.*public https:// name"):
        webhook_url(url, Settings())


def test_a_loopback_receiver_is_taken_where_the_sandbox_allows_it() -> None:
    allowed = Settings(status_subscribers={"allow_http_loopback": True})
    assert webhook_url("https://127.0.0.1:8443/x", allowed) == "https://127.0.0.1:8443/x"
    assert webhook_url("http://127.0.0.1:8080/x", allowed) == "http://127.0.0.1:8080/x"
    with pytest.raises(SubscribeRefused):
        webhook_url("https://10.0.0.5/x", allowed)
