"""Peak resident memory of this process, for benchmarks that run each variant in a subprocess.

``ru_maxrss`` is not reset by ``exec``: a child started from a parent that holds a model
reports at least the parent's RSS at fork time. ``VmHWM`` (``/proc/self/status``) belongs to
the process's own address space, which ``exec`` replaces, so it is the child's own peak.
"""

from __future__ import annotations

import resource


def peak_rss_gib() -> float:
    """This process's peak RSS in GiB (``VmHWM``; ``ru_maxrss`` where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
