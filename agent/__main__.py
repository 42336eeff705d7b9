"""Entry point. gevent must patch the standard library before requests or docker are imported."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402


def main() -> None:
    from agent.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
