"""``python -m web --socket S --host H --port P``: what ``napekit run`` spawns."""

import argparse

from web import cli

parser = argparse.ArgumentParser(prog="python -m web",
                                 description="napekit web: the phone page and JSON API")
cli.add_arguments(parser, "web")
raise SystemExit(cli.run(parser.parse_args()))
