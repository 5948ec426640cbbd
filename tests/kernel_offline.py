"""Run inside every Jupyter kernel that nbval starts under pytest (the root conftest.py passes it to the
kernel as an exec file): the notebooks, like the tests themselves (tests/conftest.py), may reach loopback
addresses only. A notebook that tries the network fails at once, naming the address."""


def _gancourse_loopback_only():
    import socket as _socket  # a local name: the closures below keep it, the notebook's namespace does not

    real_connect, real_connect_ex = _socket.socket.connect, _socket.socket.connect_ex

    def check(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (_socket.AF_INET, _socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"notebooks under test may not use the network (tried to reach {address!r})")

    def connect(self, address, *args, **kwargs):
        check(self, address)
        return real_connect(self, address, *args, **kwargs)

    def connect_ex(self, address, *args, **kwargs):
        check(self, address)
        return real_connect_ex(self, address, *args, **kwargs)

    _socket.socket.connect = connect
    _socket.socket.connect_ex = connect_ex


_gancourse_loopback_only()
del _gancourse_loopback_only
