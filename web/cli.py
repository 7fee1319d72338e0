"""``napekit web`` and ``python -m web``: serve the app with waitress.

``napekit run`` starts this as its own process (``python -m web --socket S --host H
--port P``); on a Pi a systemd unit does, as a user without GPIO access. SIGINT or
SIGTERM stops it cleanly with exit status 0.

Hazard: none here; the web cannot touch the heat. It only talks to the daemon's socket.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# Each open Now page holds one thread for its event stream (web.events): a third of the
# threads at most go to streams, the rest answer ordinary requests.
DEFAULT_THREADS = 12


def add_arguments(parser: argparse.ArgumentParser, name: str = "web") -> None:
    parser.add_argument("--socket", type=Path,
                        help="the daemon's control socket (default: $NAPEKIT_SOCKET or "
                             "$NAPEKIT_DATA_DIR/control.sock)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"worker threads (default {DEFAULT_THREADS})")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="another host name the kit answers to (repeatable; also "
                             "$NAPEKIT_ALLOWED_HOSTS, comma-separated)")


def _check(args: argparse.Namespace) -> str | None:
    if not 0 < args.port < 65536:
        return "--port must be 1 to 65535"
    if not 3 <= args.threads <= 64:
        return "--threads must be 3 to 64"
    return None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s web %(name)s %(levelname)s %(message)s")
    problem = _check(args)
    if problem:
        print(f"napekit web: {problem}", file=sys.stderr)
        return 2

    from web import create_app
    from web.serve import create_server

    extra = list(args.allow_host)
    extra += [h for h in os.environ.get("NAPEKIT_ALLOWED_HOSTS", "").split(",") if h.strip()]
    app = create_app({"SOCKET": args.socket, "ALLOWED_HOSTS": extra,
                      "EVENTS_MAX_STREAMS": max(1, args.threads // 3)})
    try:
        # Bounded against idle and slow clients, waitress's own errors in JSON (web.serve).
        # Flask answers bodies over 16 KB with a JSON 413; waitress reads a whole body
        # before the app sees it and refuses anything over 64 KB itself, so a flood of big
        # bodies cannot fill the Pi's memory.
        server = create_server(app, host=args.host, port=args.port, threads=args.threads,
                               ident="napekit")
    except OSError as exc:
        print(f"napekit web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1

    def _stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"napekit web: serving on http://{args.host}:{args.port} "
          f"(daemon socket {app.extensions['napekit.daemon'].path})", flush=True)
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.close()
    return 0
