"""The Docker reader (issue 22): what it asks Docker for each request, what it tells the writer, how it waits and
tries again while Docker is away, and how long Docker's silence has lasted (readiness, one line each way)."""

from __future__ import annotations

import logging

import pytest

from agent.adapters.docker_engine import DockerUnavailable
from agent.core.messages import ContainerChanged, ContainerSeen, HostListed, Message, Resync
from agent.daemon.inspector import ANSWERS_AGAIN, Inspector, Silence
from tests.fakes.docker import FakeDocker, container

RUNNING = ("no_ports", "three_ports")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Reader:
    """An Inspector over a fake Docker, driven in step; its sleeps are recorded and advance the clock, and after
    `patience` of them Docker answers again."""

    def __init__(self, patience: int = 3, bound: float = 10.0) -> None:
        self.docker = FakeDocker(*RUNNING)
        self.clock = Clock()
        self.sent: list[Message] = []
        self.sleeps: list[float] = []
        self.patience = patience
        self.silence = Silence(bound, clock=self.clock)
        self.inspector = Inspector(self.docker, self.sent.append, self.silence, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds
        if len(self.sleeps) >= self.patience:
            self.docker.available = True

    def ask(self, *requests: ContainerChanged | Resync) -> list[Message]:
        for request in requests:
            self.inspector.submit(request)
        self.inspector.drain()
        sent, self.sent = self.sent, []
        return sent


def cid_of(name: str) -> str:
    return container(name)["Id"]


@pytest.mark.parametrize("action", ["die", "stop", "destroy", "remove", "pause", "oom", "kill",
                                    "health_status: unhealthy"])
def test_an_event_that_removes_asks_docker_nothing(action):
    """No inspect during `docker rm` or `docker stop` (they hold the container's lock); a `kill` is the
    writer's to judge by the signal."""
    reader = Reader()
    change = ContainerChanged(cid_of("no_ports"), action, "15" if action == "kill" else "")
    assert reader.ask(change) == [ContainerSeen(change, None)]
    assert reader.docker.calls["inspect"] == 0


def test_an_event_that_may_register_is_sent_with_its_inspect():
    reader = Reader()
    change = ContainerChanged(cid_of("three_ports"), "start")
    [seen] = reader.ask(change)
    assert seen == ContainerSeen(change, reader.docker.containers[change.container_id])


def test_a_full_read_lists_every_running_container_in_start_order():
    reader = Reader()
    [listed] = reader.ask(Resync("SIGHUP"))
    assert isinstance(listed, HostListed) and listed.reason == "SIGHUP" and not listed.unread
    assert {item["Id"] for item in listed.inspects} == {cid_of(name) for name in RUNNING}


def test_a_full_read_docker_cannot_give_is_tried_again_until_it_can(caplog):
    """The writer is never the one waiting: the reader tries again under the retry policy, one warning for the
    first failure, and sends the listing once Docker gives it."""
    reader = Reader(patience=3)
    reader.docker.available = False
    with caplog.at_level(logging.DEBUG, "agent.daemon.inspector"):
        sent = reader.ask(Resync("periodic"))
    assert len(reader.sleeps) == 3 and reader.sleeps == sorted(reader.sleeps) and reader.sleeps[0] > 0
    assert [type(message) for message in sent] == [HostListed] and sent[0].reason == "periodic"
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot list the running containers" in warnings[0].getMessage()


def test_an_inspect_that_fails_asks_for_a_full_read():
    """Before: the event was dropped with a warning, and the container waited for the next periodic comparison."""
    reader = Reader(patience=1)
    reader.docker.available = False
    change = ContainerChanged(cid_of("no_ports"), "start")
    sent = reader.ask(change)
    assert [type(message) for message in sent] == [HostListed]
    assert sent[0].reason == "inspect after start failed"


def test_requests_for_a_full_read_while_one_is_queued_are_served_by_it():
    reader = Reader()
    for reason in ("periodic", "SIGHUP", "Docker reconnected"):
        reader.inspector.submit(Resync(reason))
    reader.inspector.drain()
    assert [message.reason for message in reader.sent] == ["periodic"]
    assert reader.docker.calls["running_ids"] == 1


def test_a_read_asked_for_while_one_runs_is_done_after_it():
    """What changed during a read may be missing from it: a request that comes in meanwhile gets a read of its own."""
    reader = Reader()
    reader.inspector.submit(Resync("periodic"))
    listing = reader.docker.running_ids

    def running_ids() -> list[str]:
        if reader.docker.calls["running_ids"] == 0:
            reader.inspector.submit(Resync("SIGHUP"))  # while the first read runs
        return listing()

    reader.docker.running_ids = running_ids
    reader.inspector.drain()
    assert [message.reason for message in reader.sent] == ["periodic", "SIGHUP"]


def test_silence_past_the_bound_is_not_ready_said_once_and_its_end_once(caplog):
    clock = Clock()
    silence = Silence(10.0, clock=clock)
    with caplog.at_level(logging.INFO, "agent.daemon.inspector"):
        silence.asking()
        clock.now += 9.9
        assert silence.answering()
        silence.failed(DockerUnavailable("refused"))
        clock.now += 0.2
        assert not silence.answering() and silence.seconds() == pytest.approx(10.1)
        silence.failed(DockerUnavailable("no answer within 10s"))
        silence.asking()  # a new request does not restart the count
        clock.now += 5
        silence.failed(DockerUnavailable("no answer within 10s"))
        assert not silence.answering()
        assert silence.answered() is True
        assert silence.answering() and silence.seconds() == 0
        assert silence.answered() is False
    lines = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO"]
    assert "has not answered for 10.1s" in lines[0][1] and "answers again after 15.1s" in lines[1][1]


def test_a_short_failure_is_no_silence_past_the_bound():
    clock = Clock()
    silence = Silence(10.0, clock=clock)
    silence.asking()
    clock.now += 3
    assert silence.answered() is False and silence.answering()


def test_docker_answering_again_after_the_bound_brings_a_full_read():
    """One INFO line, then every container read again: what happened while Docker was silent is picked up."""
    reader = Reader()
    reader.silence.asking()
    reader.clock.now += 20
    reader.silence.failed(DockerUnavailable("no answer within 10s"))
    change = ContainerChanged(cid_of("no_ports"), "start")
    sent = reader.ask(change)
    assert [type(message) for message in sent] == [ContainerSeen, HostListed] and sent[1].reason == ANSWERS_AGAIN


def test_a_full_read_that_ends_the_silence_is_the_read_it_asks_for():
    reader = Reader(patience=4, bound=1.0)
    reader.docker.available = False
    sent = reader.ask(Resync("SIGHUP"))
    assert reader.clock.now - 100 > 1.0  # the retries outlasted the bound
    assert [(type(message), message.reason) for message in sent] == [(HostListed, "SIGHUP")]
