"""Shared test setup: no test may reach the network, every test starts from a fixed seed, on one torch thread."""

import socket

import pytest

_real_connect = socket.socket.connect


def _loopback_only(self, address, *args, **kwargs):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
        raise OSError(f"tests may not use the network (tried to reach {address!r})")
    return _real_connect(self, address, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def fixed_seed():
    from gancourse.config import seed_everything

    seed_everything(0)


@pytest.fixture(autouse=True)
def one_thread():
    """The networks under test are tiny: a second thread only waits, and on a busy 2-core machine two
    threads ran many times slower than one. ``make test`` also sets OMP_NUM_THREADS=1."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
