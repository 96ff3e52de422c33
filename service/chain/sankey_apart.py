"""The flow diagram drawn in a child process of its own (D117).

matplotlib costs the process that imports it about 22 MiB that it never gives back; drawn here, the
diagram leaves the service as light as before it. The diagram goes to the child pickled on stdin and
the picture comes back on stdout; the child is the same Python and the same code, so the drawing is
`sankey.render`'s. The command line draws in its own (short-lived) process and calls `sankey` directly.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

from service.chain import sankey

TIMEOUT_S = 120  # a city's diagram draws in about a second; a province's in a few


class DrawingFailed(RuntimeError):
    """The child process could not draw the diagram (its error is in the message)."""


def render(d: sankey.Diagram, fmt: str) -> bytes:
    """`sankey.render(d, fmt)`, in a child process."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"unsupported diagram format {fmt!r}")
    done = subprocess.run(
        [sys.executable, "-m", "service.chain.sankey_apart"],
        input=pickle.dumps((d, fmt)),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DrawingFailed(f"drawing the flow diagram failed: {said[-1] if said else done.returncode}")
    return done.stdout


def main() -> None:
    d, fmt = pickle.loads(sys.stdin.buffer.read())  # from our own parent process only
    sys.stdout.buffer.write(sankey.render(d, fmt))


if __name__ == "__main__":
    main()
