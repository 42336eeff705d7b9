"""`service-registrator status` against a real etcd written by real agents on two Docker hosts: the hosts'
rows, each anomaly planted by hand, --json, the traefik layout of an agent, a bad setting and an unreachable
etcd."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import docker

from bench.foreign import load_hosts
from tests.conftest import RUN_ID, TEST_LABEL
from tests.support.agents import REPO
from tests.support.expect import backends_picture, docker_picture, etcd_picture
from tests.support.servers import free_port
from tests.support.waiting import wait_equal, wait_until

IP_A, IP_B = "10.30.0.1", "10.30.0.2"
MISSING, GHOST_ID = "d" * 64, "e" * 64


def run_status(*args: str, etcd_url: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("EC_", "ETCD_", "HOST_IP"))}
    env["PYTHONPATH"] = str(REPO)
    hosts = ("--etcd-hosts", etcd_url.replace("http://", "")) if etcd_url else ()
    return subprocess.run([sys.executable, "-m", "agent", "status", *hosts, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def expected_counts(client, root: str, host: str, host_ip: str) -> tuple[int, int]:
    """(containers, routes) of a host as its daemon runs them now."""
    containers = [key for key in docker_picture(client, root, host) if key.startswith(f"{root}/hosts/{host}/")]
    routes = [key for key in backends_picture(client, root + "-b", host_ip) if not key.endswith("/port")]
    return len(containers), len(routes)


def test_two_hosts_then_planted_anomalies(agents, containers, docker_client, second_dockerd, etcd, etcd_server, root):
    containers.run(ports={"80/tcp": None}, labels={"SERVICE_NAME": "status-web", "tier": "front"})
    other = docker.DockerClient(base_url=second_dockerd.url, version="auto")
    made = [other.containers.run("srtest/busybox:latest", "sleep 100000", detach=True, ports=ports,
                                 labels={"SERVICE_NAME": "status-web", TEST_LABEL: RUN_ID})
            for ports in ({"80/tcp": None}, {})]
    try:
        settings = {"LAYOUTS": "ec,backends", "BACKENDS_DIR": root + "-b"}
        first = agents.start("host-a", root, HOST_IP=IP_A, **settings)
        second = agents.start("host-b", root, docker_url=second_dockerd.url, HOST_IP=IP_B, **settings)
        markers = {"host-a": first.wait_running(etcd), "host-b": second.wait_running(etcd)}
        wait_equal(lambda: etcd_picture(etcd, root), {**docker_picture(docker_client, root, "host-a"),
                                                      **docker_picture(other, root, "host-b")}, what="ec of both")
        wait_equal(lambda: etcd.values(root + "-b/"), {**backends_picture(docker_client, root + "-b", IP_A),
                                                       **backends_picture(other, root + "-b", IP_B)},
                   what="backends of both")
        counts = {"host-a": expected_counts(docker_client, root, "host-a", IP_A),
                  "host-b": expected_counts(other, root, "host-b", IP_B)}
        # the second daemon may still run other tests' containers: host-b's counts are what Docker says
        assert counts["host-a"] == (1, 1) and counts["host-b"][0] >= 2 and counts["host-b"][1] >= 1
        flags = ("--etcd-dir", root, "--backends-dir", root + "-b")

        done = run_status(*flags, etcd_url=etcd_server.url)
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split() == ["HOST", "STATE", "VERSION", "STARTED", "LEASE", "TTL", "LEFT", "CONTAINERS",
                                    "BACKENDS", "SERVERS", "ROUTERS", "ADDRESS"]
        for line, host in zip(lines[1:3], ("host-a", "host-b"), strict=True):
            cells = line.split()
            marker = markers[host]
            assert cells[:5] == [host, "running", marker["version"], marker["started"], f"{marker['lease']:x}"]
            assert cells[5].endswith("s") and 0 < int(cells[5][:-1]) <= 10
            assert (int(cells[6]), int(cells[7])) == counts[host]
            assert cells[8:] == ["0", "0", "published"]  # no traefik layout; EC_REGISTRATOR_ADDRESS's default
        assert lines[3:] == ["no anomalies"]

        document = json.loads(run_status(*flags, "--json", etcd_url=etcd_server.url).stdout)
        assert [(row["host"], row["state"], row["lease"], row["containers"], row["backends"])
                for row in document["hosts"]] == [(host, "running", markers[host]["lease"], *counts[host])
                                                  for host in ("host-a", "host-b")]
        assert document["anomalies"] == [] and document["revision"] > 0
        check_views(flags, etcd_server.url, document, markers, counts, docker_client, other, root)

        evil = "evil\nhost-a  running"
        planted = {
            f"{root}/labels/planted/{MISSING}": "x",  # dangling-index, unleased
            f"{root}/stray": "1",  # unleased
            f"{root}-b/planted/1/{'f' * 12}": "10.9.9.9:1",  # unleased
            f"{root}/hosts/ghost/web": GHOST_ID,  # no-marker, dangling-index, unleased
            f"{root}/agents/zombie": json.dumps({"host": "zombie", "lease": 0x5EED, "state": "running",
                                                 "started": "then", "version": "0"}),  # lease-gone, unleased
            f"{root}/agents/junk": "not json",  # bad-marker, unleased
            f"{root}/{evil}/web": made[0].id,  # no-marker, unleased
        }
        for key, value in planted.items():
            etcd.put(key, value)
        expected = {("unleased", key) for key in planted} | {
            ("dangling-index", f"{root}/labels/planted/{MISSING}"), ("dangling-index", f"{root}/hosts/ghost/web"),
            ("no-marker", f"{root}/agents/ghost"), ("no-marker", f"{root}/agents/{evil}"),
            ("lease-gone", f"{root}/agents/zombie"), ("bad-marker", f"{root}/agents/junk"),
            ("marker-lease", f"{root}/agents/zombie")}  # it names lease 5eed and is on none

        done = run_status(*flags, etcd_url=etcd_server.url)
        print(done.stdout)
        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert f"{len(expected)} anomalies:" in lines
        assert len([line for line in lines if line.startswith("host-a")]) == 1
        assert len([line for line in lines if line.startswith("evil\\nhost-a  running  ")]) == 1
        reported = [line for line in lines if line.startswith("  ")]
        assert len(reported) == len(expected)
        for kind, key in expected:
            assert any(line.startswith(f"  {kind}  {key}  ".replace("\n", "\\n")) for line in reported), (kind, key)

        as_json = run_status(*flags, "--json", etcd_url=etcd_server.url)
        assert as_json.returncode == 1
        alone = json.loads(run_status(*flags, "--host", evil, "--json", etcd_url=etcd_server.url).stdout)
        assert {(item["kind"], item["key"]) for item in alone["anomalies"]} == {
            ("no-marker", f"{root}/agents/{evil}"), ("unleased", f"{root}/{evil}/web")}
        assert run_status(*flags, "--host", "host-a", etcd_url=etcd_server.url).returncode == 0  # not its anomalies
        document = json.loads(as_json.stdout)
        assert {(item["kind"], item["key"]) for item in document["anomalies"]} == expected
        rows = {row["host"]: row for row in document["hosts"]}
        assert set(rows) == {"host-a", "host-b", "ghost", "zombie", "junk", evil}
        assert rows["zombie"]["seconds_left"] == -1 and rows["ghost"]["state"] == "no marker"
        assert rows["junk"]["state"] == "unreadable"

        for key in planted:
            etcd.delete(key)
        assert run_status(*flags, etcd_url=etcd_server.url).returncode == 0
    finally:
        for container in made:
            container.remove(force=True)
        other.close()


def check_views(flags, url, document, markers, counts, client_a, client_b, root) -> None:
    """Issue 25: small pages read the same report; --summary the rows without counts; --host one host's row and
    containers; --service one service's backends, by host."""
    def timeless(rows: list[dict]) -> list[dict]:
        return [{name: value for name, value in row.items() if name != "seconds_left"} for row in rows]

    small = json.loads(run_status(*flags, "--json", "--page-size", "3", etcd_url=url).stdout)
    assert (timeless(small["hosts"]), small["anomalies"]) == (timeless(document["hosts"]), document["anomalies"])
    summary = json.loads(run_status(*flags, "--json", "--summary", etcd_url=url).stdout)
    assert [(row["host"], row["lease"], row["containers"], "backends" in row, "seconds_left" in row)
            for row in summary["hosts"]] == [(host, markers[host]["lease"], counts[host][0], False, False)
                                             for host in ("host-a", "host-b")]
    one = json.loads(run_status(*flags, "--json", "--host", "host-a", etcd_url=url).stdout)
    assert timeless(one["hosts"]) == timeless(document["hosts"][:1])
    running = client_a.containers.list(filters={"label": f"{TEST_LABEL}={RUN_ID}"})
    assert [(item["name"], item["id"]) for item in one["containers"]] == [(item.name, item.id) for item in running]
    service = json.loads(run_status(*flags, "--json", "--service", "status-web", etcd_url=url).stdout)
    hosts = {"host-a": {item.id[:12] for item in running},
             "host-b": {item.id[:12] for item in client_b.containers.list() if item.attrs["NetworkSettings"]["Ports"]}}
    for entry in service["backends"]:
        assert entry["key"].startswith(f"{root}-b/status-web/") and entry["host"] in hosts
        assert entry["key"].endswith("/port") or entry["key"].rsplit("/", 1)[1] in hosts[entry["host"]]
    assert {entry["host"] for entry in service["backends"]} == {"host-a", "host-b"} and service["traefik"] == []


def test_a_large_registry_in_small_pages(etcd, etcd_server, root):
    """A few thousand keys of 12 hosts (bench/foreign.py writes them as agents would), read 100 keys a page: the
    same report as in one page, the summary's rows, one host's containers."""
    hosts = load_hosts(etcd_server.url, root, 0, 12, per_host=15)
    try:
        flags = ("--etcd-dir", root, "--backends-dir", root + "-b", "--json")
        paged = run_status(*flags, "--page-size", "100", etcd_url=etcd_server.url)
        assert paged.returncode == 0, paged.stdout + paged.stderr
        document = json.loads(paged.stdout)
        assert [(row["host"], row["lease"], row["containers"]) for row in document["hosts"]] == [
            (host.name, host.lease, 15) for host in hosts]
        whole = json.loads(run_status(*flags, "--page-size", "100000", etcd_url=etcd_server.url).stdout)
        assert whole["anomalies"] == document["anomalies"] == []
        assert [row["containers"] for row in whole["hosts"]] == [row["containers"] for row in document["hosts"]]
        summary = json.loads(run_status(*flags, "--summary", "--page-size", "7", etcd_url=etcd_server.url).stdout)
        assert [row["containers"] for row in summary["hosts"]] == [15] * 12
        one = json.loads(run_status(*flags, "--host", hosts[3].name, etcd_url=etcd_server.url).stdout)
        assert sorted(item["id"] for item in one["containers"]) == sorted(cid for cid, _, _ in hosts[3].containers)
    finally:
        for host in hosts:
            etcd.revoke(host.lease)


def test_a_ttl0_host_is_no_anomaly(agents, containers, docker_client, etcd, etcd_server, root):
    containers.run(ports={"80/tcp": None}, labels={"SERVICE_NAME": "zero-web"})
    agent = agents.start("zero-host", root, TTL="0", LAYOUTS="ec,backends", BACKENDS_DIR=root + "-b", HOST_IP=IP_A)
    agent.wait_running(etcd)
    wait_equal(lambda: etcd.values(root + "-b/"), backends_picture(docker_client, root + "-b", IP_A), what="backends")
    wait_equal(lambda: etcd_picture(etcd, root), docker_picture(docker_client, root, "zero-host"), what="ec")
    done = run_status("--etcd-dir", root, "--backends-dir", root + "-b", "--json", etcd_url=etcd_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert [(row["host"], row["lease"], row["seconds_left"], row["containers"], row["backends"])
            for row in document["hosts"]] == [("zero-host", 0, None, 1, 1)]
    etcd.put(f"{root}/stray", "1")
    done = run_status("--etcd-dir", root, "--backends-dir", root + "-b", "--json", etcd_url=etcd_server.url)
    assert done.returncode == 1
    assert json.loads(done.stdout)["anomalies"] == [{"kind": "unleased", "key": f"{root}/stray",
                                                     "detail": "on no lease and no TTL-0 host's key: it never expires"}]


def test_hostile_markers_are_reported_and_hide_nothing(etcd, etcd_server, root):
    """Defects: a marker naming lease 2^63 made `status` print only "cannot read etcd"; a marker naming another
    host's lease was shown with that lease and no anomaly; --json printed C1 controls and bidi overrides raw."""
    leases = [etcd.grant(30) for _ in range(3)]
    evil = "ev\u009bil\u202e"
    try:
        def marker(host: str, lease: int) -> str:
            return json.dumps({"host": host, "lease": lease, "state": "running", "started": "now", "version": "1"})

        etcd.put(f"{root}/agents/honest", marker("honest", leases[0]), leases[0])
        etcd.put(f"{root}/agents/sharer", marker("sharer", leases[0]), leases[0])  # two hosts, one lease
        etcd.put(f"{root}/agents/huge", marker("huge", 2**63), leases[1])  # no lease id etcd can have
        etcd.put(f"{root}/agents/borrower", marker("borrower", leases[0]), leases[2])  # names another's lease
        etcd.put(f"{root}/agents/{evil}", marker(evil, leases[1]), leases[1])
        done = run_status("--etcd-dir", root, "--backends-dir", root + "-b", "--json", etcd_url=etcd_server.url)
        assert done.returncode == 1 and done.stderr == "", done.stderr
        assert "\u009b" not in done.stdout and "\u202e" not in done.stdout and "ev\\u009bil\\u202e" in done.stdout
        document = json.loads(done.stdout)
        assert {(item["kind"], item["key"].rsplit("/", 1)[1]) for item in document["anomalies"]} == {
            ("bad-marker", "huge"), ("marker-lease", "borrower"), ("shared-lease", "honest"),
            ("shared-lease", "sharer")}
        rows = {row["host"]: row for row in document["hosts"]}
        assert set(rows) == {"honest", "sharer", "huge", "borrower", evil}
        assert rows["borrower"]["lease"] == leases[2] and rows["huge"]["state"] == "unreadable"
    finally:
        for lease in leases:
            etcd.revoke(lease)


def traefik_counts(etcd, traefik_root: str, lease: int) -> tuple[int, int]:
    """(servers, routers) under the traefik root on one lease, as etcd holds them now."""
    on_lease = [key[len(traefik_root) + 1:].split("/") for key, item in etcd.items(traefik_root + "/").items()
                if item.lease == lease]
    servers = {(parts[0], parts[2], parts[5]) for parts in on_lease if parts[3:5] == ["loadbalancer", "servers"]}
    return len(servers), len({(parts[0], parts[2]) for parts in on_lease if parts[1] == "routers"})


def test_the_traefik_layout_of_an_agent_and_its_anomalies(agents, containers, etcd, etcd_server, root):
    """A real agent (ec and traefik layouts) writes a router, a middleware and this host's server; `status` counts
    them on the host's row, then reports each traefik anomaly planted beside them."""
    traefik_root = f"tr{uuid.uuid4().hex[:10]}"
    labels = {"traefik.enable": "true", "traefik.http.routers.st-web.rule": "Host(`st.test`)",
              "traefik.http.routers.st-web.middlewares": "st-strip",
              "traefik.http.middlewares.st-strip.stripprefix.prefixes": "/st"}
    box = containers.run(ports={"80/tcp": ("127.0.0.1", None)}, labels=labels)
    agent = agents.start("host-t", root, LAYOUTS="ec,traefik", TRAEFIK_ROOT=traefik_root, HOST_IP="127.0.0.1",
                         RESYNC="0")
    lease = agent.wait_running(etcd)["lease"]
    wait_until(lambda: any(key.endswith(f"/loadbalancer/servers/{box.id[:12]}/url")
                           for key in etcd.values(traefik_root + "/")), what="the container's traefik server")
    wait_until(lambda: f"{traefik_root}/http/middlewares/st-strip/stripprefix/prefixes/0" in etcd.values(
        traefik_root + "/"), what="the container's middleware")
    servers, routers = traefik_counts(etcd, traefik_root, lease)  # the engine may run other labelled containers
    assert servers >= 1 and routers >= 1
    flags = ("--etcd-dir", root, "--backends-dir", root + "-b", "--traefik-root", traefik_root)

    done = run_status(*flags, etcd_url=etcd_server.url)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[-3:] == ["SERVERS", "ROUTERS", "ADDRESS"]
    assert lines[1].split()[0] == "host-t" and lines[1].split()[-3:] == [str(servers), str(routers), "published"]
    assert lines[2:] == ["no anomalies"]
    row = json.loads(run_status(*flags, "--json", etcd_url=etcd_server.url).stdout)["hosts"][0]
    assert (row["host"], row["lease"], row["servers"], row["routers"]) == ("host-t", lease, servers, routers)
    assert row["middlewares"] >= 1

    orphan = etcd.grant(60)
    foreign = f"{traefik_root}/http/services/st-planted/loadbalancer/servers/{'f' * 12}/url"
    lost = f"{traefik_root}/http/routers/st-lost/service"
    planted = [
        (foreign, "http://10.9.9.9:1", lease),  # foreign-server: on host-t's lease, no container of host-t
        (lost, "st-nowhere", lease),  # no-server: no such service
        (f"{traefik_root}/http/routers/st-lost/rule", "Host(`lost.test`)", lease),
        (f"{traefik_root}/http/routers/st-orphan/rule", "Host(`o.test`)", orphan),  # orphan-lease
        (f"{traefik_root}/http/middlewares/st-stray/addprefix/prefix", "/y", 0),  # unleased
        (f"/{traefik_root}/http/routers/st-web/rule", "Host(`st.test`)", 0),  # slash-root (not unleased)
    ]
    try:
        for key, value, on in planted:
            etcd.put(key, value, on)
        expected = {("foreign-server", foreign), ("no-server", lost),
                    ("orphan-lease", f"{traefik_root}/http/routers/st-orphan/rule"),
                    ("unleased", f"{traefik_root}/http/middlewares/st-stray/addprefix/prefix"),
                    ("slash-root", f"/{traefik_root}/")}
        done = run_status(*flags, etcd_url=etcd_server.url)
        print(done.stdout)
        assert done.returncode == 1, done.stdout + done.stderr
        reported = [line for line in done.stdout.splitlines() if line.startswith("  ")]
        assert len(reported) == len(expected) and f"{len(expected)} anomalies:" in done.stdout
        for kind, key in expected:
            assert any(line.startswith(f"  {kind}  {key}  ") for line in reported), (kind, key)
        document = json.loads(run_status(*flags, "--json", etcd_url=etcd_server.url).stdout)
        assert {(item["kind"], item["key"]) for item in document["anomalies"]} == expected
        assert [(row["servers"], row["routers"]) for row in document["hosts"]] == [(servers + 1, routers + 1)]
    finally:
        for key, _, _ in planted:
            etcd.delete(key)
        etcd.revoke(orphan)
    assert run_status(*flags, etcd_url=etcd_server.url).returncode == 0


def test_a_bad_setting_is_one_line_and_status_2():
    for args in (("--etcd-hosts", "nope"), ("--etcd-dir", "a", "--backends-dir", "a/b"), ("--log-level", "loud"),
                 ("--traefik-root", "/traefik")):
        done = run_status(*args)
        assert done.returncode == 2, done.stderr
        assert done.stdout == "" and len(done.stderr.splitlines()) == 1
        # the flag the user typed, then its variable: `--etcd-hosts (EC_REGISTRATOR_ETCD_HOSTS): expected …`
        assert re.match(rf"service-registrator status: {re.escape(args[0])} \(EC_REGISTRATOR_\w+\): |"
                        r"service-registrator status: EC_REGISTRATOR_\w+: ", done.stderr), done.stderr


def test_etcd_unreachable_is_one_line_and_status_1():
    port = free_port()
    done = run_status("--etcd-hosts", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"service-registrator status: cannot read etcd at http://127.0.0.1:{port}: ")
