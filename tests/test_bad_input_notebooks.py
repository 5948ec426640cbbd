"""Notebook kernels under nbval get the tests' network block too (the root conftest.py starts them)."""

import socket

import nbval.kernel
import pytest


def _run(kc, code: str) -> dict:
    """Execute ``code`` in the kernel; return {'stdout': ..., 'error': ename: evalue or None}."""
    msg_id = kc.execute(code)
    out, error = [], None
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"
        elif kind == "status" and content["execution_state"] == "idle":
            return {"stdout": "".join(out), "error": error}


@pytest.fixture(scope="module")
def kernel():
    # the same function nbval calls for each notebook (replaced by the root conftest.py)
    km, kc = nbval.kernel.start_new_kernel(startup_timeout=60, kernel_name="python3")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_kernel_cannot_reach_the_network(kernel):
    result = _run(kernel, "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('192.0.2.1', 80))")
    assert result["error"] is not None
    assert "OSError: notebooks under test may not use the network (tried to reach ('192.0.2.1', 80))" in result["error"]


def test_kernel_connect_ex_is_blocked_too(kernel):
    result = _run(kernel, "import socket\nsocket.socket(socket.AF_INET6).connect_ex(('2001:db8::1', 443))")
    assert "may not use the network" in (result["error"] or "")


def test_kernel_may_use_loopback(kernel):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = _run(kernel, f"import socket\nc = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                              f"print('connected'); c.close()")
        assert result["error"] is None and result["stdout"].strip() == "connected"
    finally:
        server.close()


def test_the_block_leaves_no_names_in_the_notebook(kernel):
    result = _run(kernel, "print(sorted(k for k in globals() if 'gancourse' in k or k == '_socket'))")
    assert result["stdout"].strip() == "[]"
