"""`OutOfSpace`: etcd's NOSPACE episodes as the writer meets them. etcd whose backend reached its quota
(--quota-backend-bytes) raises its NOSPACE alarm and refuses every write until an operator makes room and
disarms it; the writer says so once an episode, in the operator's terms, asks only the alarm list (one small
request) until it is gone instead of comparing the host in full, and compares at once when it is gone."""

from __future__ import annotations

import logging

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import RESOURCE_EXHAUSTED, EtcdError, EtcdRequestError

log = logging.getLogger(__name__)


class OutOfSpace:
    def __init__(self, etcd: Etcd) -> None:
        self._etcd = etcd
        self.raised = False  # an episode is under way: etcd refused a write with its NOSPACE alarm raised

    def explains(self, error: EtcdError) -> bool:
        """Whether a refused write was etcd out of space (RESOURCE_EXHAUSTED also means "too many requests":
        the alarm list tells which); the first of an episode is said."""
        if not (isinstance(error, EtcdRequestError) and error.code == RESOURCE_EXHAUSTED):
            return False
        if not self.raised and self._alarm():
            self.raised = True
            log.error("etcd is out of space: its NOSPACE alarm is raised (the backend reached its "
                      "--quota-backend-bytes) and it refuses every write, so this host's registry cannot change "
                      "until an operator compacts, defragments and disarms it (etcdctl compact <revision>; "
                      "etcdctl defrag; etcdctl alarm disarm). What changes meanwhile is kept and written as soon "
                      "as etcd takes writes again")
        return self.raised

    def still(self) -> bool:
        """During an episode: whether the alarm is still raised (a failed look says no: the comparison that
        follows finds out)."""
        return self.raised and self._alarm()

    def over(self) -> None:
        """A full comparison was written: the episode, if any, is over."""
        if self.raised:
            self.raised = False
            log.info("etcd takes writes again (its NOSPACE alarm is disarmed); this host's keys are written")

    def _alarm(self) -> bool:
        try:
            return self._etcd.out_of_space()
        except EtcdError as exc:
            log.debug("cannot read etcd's alarms: %s", exc)
            return False
