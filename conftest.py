"""Root pytest configuration: applies to the notebooks under nbval as well as to tests/.

make test runs two pytest workers side by side, each starting Jupyter kernels. A kernel that dies
before answering its first request (two kernels racing for the same free local port) is started
again, up to three times, instead of failing the whole notebook. Every kernel also runs
tests/kernel_offline.py first, so notebooks under test cannot reach the network either.
"""

from pathlib import Path

import nbval.kernel

_start_new_kernel = nbval.kernel.start_new_kernel


# Every kernel runs tests/kernel_offline.py first: the socket block of tests/conftest.py, inside the kernel.
KERNEL_OFFLINE = Path(__file__).resolve().parent / "tests" / "kernel_offline.py"


def _start_new_kernel_with_retries(*args, **kwargs):
    kwargs["extra_arguments"] = [*kwargs.get("extra_arguments", []), f"--IPKernelApp.exec_files={KERNEL_OFFLINE}"]
    for attempt in range(3):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError:
            if attempt == 2:
                raise


nbval.kernel.start_new_kernel = _start_new_kernel_with_retries
