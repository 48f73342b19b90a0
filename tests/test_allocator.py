"""``reuse_freed_memory``: large freed blocks are reused instead of being unmapped and faulted in again.

Each check runs in a fresh interpreter: the setting is process-wide and cannot be undone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")

FAULTS = textwrap.dedent("""
    import resource, sys, torch
    from circuitlab import allocator
    applied = allocator.reuse_freed_memory() if sys.argv[1] == "reuse" else False
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 256), torch.randn(256, 8192)
    faults = []
    for _ in range(10):  # three 64 MiB results per round, each freed when the next round replaces it
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        y = torch.relu(a @ b) + 1
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(applied, allocator.mode(), *faults)
""")


def _run(code: str, *args: str, env: dict | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_reuse_keeps_freed_tensor_memory_mapped():
    """A loop that replaces 64 MiB tensors: glibc's default maps and faults in every page again in every
    round (3 x 16384 pages); with reuse, the steady rounds use the pages they already have."""
    applied, mode, *system = _run(FAULTS, "system")
    assert (applied, mode) == ("False", "system")
    applied, mode, *reuse = _run(FAULTS, "reuse")
    assert (applied, mode) == ("True", "reuse")
    system, reuse = [int(f) for f in system], [int(f) for f in reuse]
    assert all(f > 40_000 for f in system), system
    assert sum(reuse[4:]) < sum(system[4:]) / 3, (reuse, system)


def test_environment_switches_it_off_and_rejects_unknown_values():
    code = "from circuitlab import allocator; print(allocator.reuse_freed_memory(), allocator.reuse_freed_memory())"
    assert _run(code, env={"CIRCUITLAB_MALLOC": "reuse"}) == ["True", "True"]  # idempotent
    assert _run(code, env={"CIRCUITLAB_MALLOC": "system"}) == ["False", "False"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CIRCUITLAB_MALLOC": "jemalloc"})
    assert out.returncode != 0 and "use 'reuse' (default) or 'system'" in out.stderr


@pytest.mark.parametrize("env,expected", [({}, "reuse"), ({"CIRCUITLAB_MALLOC": "system"}, "system")])
def test_the_command_line_applies_it(env, expected):
    code = textwrap.dedent("""
        import sys
        from circuitlab import allocator
        from circuitlab.cli import main
        sys.argv = ["circuitlab", "--help"]
        try:
            main()
        except SystemExit:
            pass
        print(allocator.mode())
    """)
    assert _run(code, env={"CIRCUITLAB_MALLOC": "", **env})[-1] == expected


def test_a_bad_setting_stops_the_command_with_a_message():
    code = "import sys; from circuitlab.cli import main; sys.argv = ['circuitlab', 'models']; main()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CIRCUITLAB_MALLOC": "tcmalloc"})
    assert out.returncode != 0 and "CIRCUITLAB_MALLOC='tcmalloc'" in out.stderr and "Traceback" not in out.stderr
