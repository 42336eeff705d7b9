"""SPEC §6: an agent's cost is bounded by its own host. With thousands of other hosts' keys in the registry,
what it reads (its own counter) stays a small multiple of its own keys, and their changes never reach it."""

from __future__ import annotations

import signal

from tests.support.scrape import scrape
from tests.support.servers import free_port
from tests.support.waiting import wait_until

OTHER_HOSTS, CONTAINERS_EACH = 100, 3
READ = "service_registrator_etcd_keys_read_total"
SEEN = "service_registrator_etcd_watch_events_total"


def other_hosts_keys(root: str) -> dict[str, str]:
    """The ec keys of OTHER_HOSTS hosts, CONTAINERS_EACH containers each (about 12 keys a container)."""
    keys = {}
    for host in range(OTHER_HOSTS):
        for number in range(CONTAINERS_EACH):
            cid = f"{host:032x}{number:032x}"
            base = f"{root}/containers/{cid}"
            keys.update({f"{base}/{field}": cid for field in ("id", "created", "state", "image", "name")})
            keys.update({f"{base}/host": f"other-{host}", f"{base}/network/ip": "10.9.0.1",
                         f"{base}/labels/team": "x", f"{root}/labels/team/{cid}": "x",
                         f"{root}/hosts/other-{host}/c{number}": cid, f"{root}/other-{host}/c{number}": cid})
    return keys


def put_all(etcd, keys: dict[str, str]) -> None:
    import base64

    items = list(keys.items())
    for start in range(0, len(items), 128):
        etcd.post("kv/txn", {"success": [
            {"request_put": {"key": base64.b64encode(key.encode()).decode(),
                             "value": base64.b64encode(value.encode()).decode()}}
            for key, value in items[start:start + 128]]})


def test_reads_and_watches_are_bounded_by_the_host(agents, containers, etcd, root):
    foreign = other_hosts_keys(root)
    put_all(etcd, foreign)
    containers.run(labels={"bounded": "one"})
    containers.run(labels={"bounded": "two"})
    port = free_port()
    agent = agents.start("bounded-host", root, HTTP_ADDR=f"127.0.0.1:{port}", RESYNC="0")
    marker = agent.wait_running(etcd)
    wait_until(lambda: scrape(port).get("service_registrator_ready") == 1, what="ready")
    _, own = etcd.lease_keys(marker["lease"])
    started = scrape(port)[READ]
    assert started <= 3 * len(own), f"start read {started} keys; the host has {len(own)}, the registry {len(foreign)}"

    agent.signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: 2 containers in sync" in agent.log(), what="the full comparison")
    compared = scrape(port)[READ] - started
    assert compared <= 3 * len(own), f"a full comparison read {compared} keys; the host has {len(own)}"

    # The watches start at the revision after the first comparison's read, so the agent's own first writes
    # under them reach it too; counted in full before the foreign changes, they cannot blur the figure below.
    watched = (f"{root}/hosts/bounded-host/", f"{root}/bounded-host/")
    first_writes = len({key for key in own if key.startswith(watched)} | {f"{root}/agents/bounded-host"})
    wait_until(lambda: scrape(port).get(SEEN, 0) >= first_writes, timeout=5,
               what=f"the watches delivered the agent's own {first_writes} first writes")
    seen = scrape(port).get(SEEN, 0)
    put_all(etcd, {key: "changed" for key in list(foreign)[:500]})
    probe = f"{root}/hosts/bounded-host/~probe"
    etcd.put(probe, "not ours")
    wait_until(lambda: etcd.get(probe) is None, timeout=3, what="the probe under the host index removed")
    assert scrape(port).get(SEEN, 0) - seen <= 2, "changes of other hosts' keys reached the agent"
    print(f"first writes seen {first_writes}, own keys {len(own)}, registry {len(foreign) + len(own)}, "
          f"read at start {started:.0f}, per full comparison {compared:.0f}")
