"""Root pytest configuration: applies to the notebooks under nbval as well as to tests/.

make test runs two pytest workers side by side, each starting Jupyter kernels. A kernel that dies
before answering its first request (two kernels racing for the same free local port) is started
again, up to three times, instead of failing the whole notebook.
"""

import nbval.kernel

_start_new_kernel = nbval.kernel.start_new_kernel


def _start_new_kernel_with_retries(*args, **kwargs):
    for attempt in range(3):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError:
            if attempt == 2:
                raise


nbval.kernel.start_new_kernel = _start_new_kernel_with_retries
