"""`make demo-image`: the walkthrough's image, `sr-demo:latest`, imported from the machine's busybox-static into
the Docker that `DOCKER_HOST` (default: the local socket) names: no registry is needed. Its busybox has `nc` and
`httpd`, enough to stand for a service."""

from __future__ import annotations

import sys

import docker

from tests.support.servers import build_test_image

DEMO_IMAGE = "sr-demo:latest"


def main() -> int:
    try:
        client = docker.from_env(timeout=60)
        print(f"demo-image: {build_test_image(client, DEMO_IMAGE)} imported from busybox-static")
    except (docker.errors.DockerException, RuntimeError) as exc:
        print(f"demo-image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
