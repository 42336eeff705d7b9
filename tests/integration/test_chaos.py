"""A short seeded chaos run (issue 14): container churn and faults on three hosts (the test dockerd, the second
one, the private Podman) against a 3-member etcd cluster, and etcd exact at every quiet point, in the ec, backends
and traefik layouts. Long runs: `make chaos SEED=… MINUTES=…`."""

from __future__ import annotations

import pytest

from bench.chaos.run import Divergence, run
from bench.chaos.schedule import FAULTS
from bench.chaos.world import hosts_on
from tests.support.podman import private_podman

SEED = 7
SECONDS = 60


def test_a_short_seeded_chaos_run_is_exact_at_every_quiet_point(tmp_path, etcd_cluster, dockerd, docker_url,
                                                                   second_dockerd):
    # a Podman of its own: churned networks can leave Podman 4.3's state inconsistent ("network inspection
    # mismatch", seen once in CI), which must not reach the other tests' Podman
    with private_podman() as podman, hosts_on(etcd_cluster, tmp_path, dockerd, docker_url, second_dockerd.url,
                                              podman) as world:
        try:
            figures = run(world, SEED, SECONDS)
        except Divergence as exc:
            pytest.fail(f"seed {SEED} diverged (replay: make chaos SEED={SEED}):\n{exc}")
    print(f"{sum(figures.operations.values())} operations, faults {dict(figures.faults)}, {figures.checks} checks, "
          f"longest convergence after a fault {figures.longest_converge:.2f}s, "
          f"at most {figures.traefik_keys} traefik keys at a check")
    assert figures.checks >= 5
    assert figures.traefik_keys > 0  # the traefik layout was compared with containers that define something
    assert figures.uncovered == [] and set(figures.faults) == set(FAULTS)  # every kind happened (skips not counted)
