"""OUTBOUND_PROXY: every call to Microsoft (token, discovery, Graph, employee sign-in) goes through the configured
proxy, here a real CONNECT proxy on localhost in front of the emulator; a proxy that is down fails the call with
an admin-readable error instead of going around it."""
import select
import socket
import threading

import pytest

from directory_sync import graph, graph_reads
from signatures import signin
from tenants import clouds


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that tunnels TLS and records each target it was asked for."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.targets = []
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self):
        self.server.close()

    def _serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.targets.append(target)
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                ends = [client, upstream]
                while True:
                    readable, _, _ = select.select(ends, [], [], 10)
                    if not readable:
                        return
                    for end in readable:
                        data = end.recv(65536)
                        if not data:
                            return
                        (upstream if end is client else client).sendall(data)


@pytest.fixture
def proxy():
    running = ConnectProxy()
    yield running
    running.close()


def test_token_and_graph_calls_go_through_the_proxy(emu_link, emu, proxy, settings):
    settings.OUTBOUND_PROXY = proxy.url
    graph.forget_link(emu_link)
    organization = graph_reads.get_organization(emu_link)
    assert organization["id"] == emu.tenant.id
    emulator = emu_link.cloud.graph_url.removeprefix("https://")
    assert proxy.targets and set(proxy.targets) == {emulator}  # the token request and Graph's, all tunnelled
    graph.forget_link(emu_link)


def test_a_proxy_that_is_down_fails_the_call_in_words_and_is_not_bypassed(emu_link, emu, settings):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead = f"http://127.0.0.1:{placeholder.getsockname()[1]}"  # closed when the block ends
    settings.OUTBOUND_PROXY = dead
    graph.forget_link(emu_link)
    emu.control.clear_requests()
    with pytest.raises(graph.GraphError) as caught:
        graph_reads.get_organization(emu_link)
    assert caught.value.admin_message
    assert emu.control.requests() == []  # nothing reached the emulator directly
    graph.forget_link(emu_link)


def test_every_cloud_and_the_sign_in_session_carry_the_proxy(settings):
    settings.OUTBOUND_PROXY = "http://proxy.corp.example:3128"
    for key, _ in clouds.CHOICES:
        assert clouds.get_cloud(key).proxies == {"https": "http://proxy.corp.example:3128",
                                                 "http": "http://proxy.corp.example:3128"}
    session = signin._session_for(clouds.get_cloud(clouds.GLOBAL))
    assert session.proxies["https"] == "http://proxy.corp.example:3128" and session.trust_env is False
    settings.OUTBOUND_PROXY = ""
    assert clouds.get_cloud(clouds.GLOBAL).proxies == {}
