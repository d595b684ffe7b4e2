"""`python -m nets.explore [--port 8765] [--no-browser]`: serve the optimizer explorer."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Sequence

from nets.explore.server import make_server


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nets.explore",
        description="Serve the optimizer explorer on 127.0.0.1: trajectories of the "
                    "lectures' optimizers over the landscapes of optim.landscapes.")
    p.add_argument("--port", type=int, default=8765,
                   help="the port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        _parser().error(f"--port must be in [0, 65535], got {args.port}")
    try:
        server = make_server(args.port, quiet=not args.verbose)
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    print(f"the optimizer explorer is at {server.url} (Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
