"""`--dry-run`: the keys this host would write, as one JSON object on stdout; nothing is written."""

from __future__ import annotations

import json
import sys

from agent.adapters.docker_engine import Docker, DockerUnavailable
from agent.daemon.settings import Config, host_name
from agent.layouts import keys_of
from agent.layouts.registry import build_layouts
from agent.settings import ConfigError


def dry_run(config: Config) -> int:
    """Every container key of every layout (the agent marker, which names a lease, is left out)."""
    try:
        docker = Docker(config.docker_url)
        host = host_name(config, docker.engine_name)
        inspects = [found for cid in docker.running_ids() if (found := docker.inspect(cid))]
    except (DockerUnavailable, ConfigError) as exc:
        print(f"service-registrator: --dry-run: {exc}", file=sys.stderr)
        return 1
    layouts = build_layouts(config.setting_values(), host)
    keys: dict[str, str] = {}
    for inspect in inspects:
        keys.update(keys_of(inspect, layouts)[0])
    json.dump(dict(sorted(keys.items())), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0
