"""The etcd adapter: the only module that imports etcd3gw.

etcd3gw talks to one endpoint per client and encodes `str` as latin-1, so this adapter keeps one client
per endpoint, moves to the next on connection failure, and base64-encodes UTF-8 bytes itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import gevent.pool
import requests
import requests.adapters
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception, InternalServerError
from urllib3.exceptions import ReadTimeoutError

from agent import metrics
from agent.adapters.etcd_connection import Credentials, KeepAliveAdapter, Members, TlsFiles
from agent.adapters.etcd_errors import (
    UNAUTHENTICATED,
    UNAVAILABLE,
    EtcdRequestError,
    EtcdSlow,
    EtcdTlsError,
    EtcdUnavailable,
    LeaseNotFound,
    TokenRefused,
    WatchSilent,
    auth_canceled,
    grpc_code,
    request_error,
    tls_reason,
)
from agent.adapters.etcd_wire import (
    b64,
    decode_kv,
    key_after,
    op_request,
    page_request,
    prefix_end,
    range_request,
    text_of,
    watch_result,
)
from agent.adapters.jsonstream import JsonStream
from agent.core.kv import KeyValue, LeaseInfo, WatchReply
from agent.core.plan import MAX_TXN_OPS, Op
from agent.settings import Connection, Endpoint

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0  # seconds one etcd request may take (the watches and the keepalive have their own)
PAGE_SIZE = 10_000  # keys a page of `pages` asks for: a bounded answer (1-3 MB of JSON), well within the timeout
MAX_IN_FLIGHT = 16  # requests one client may have in flight at once; each keeps its connection
WATCH_CONNECT_TIMEOUT = 3.0
# A member without a leader (in a minority partition) would keep serving a watch that sees no new writes; with
# this gRPC metadata it answers `no leader` (code 14) instead, and the watch moves to the next endpoint.
REQUIRE_LEADER = {"Grpc-Metadata-hasleader": "true"}
WATCH_IDLE_TIMEOUT = 60.0  # a silent watch is re-opened from its next revision, which costs nothing


class Etcd:
    def __init__(self, members: Members, tls: TlsFiles | None, timeout: float,
                 credentials: Credentials | None = None) -> None:
        self._members = members
        self._tls = tls or TlsFiles(None, None, None)
        self._credentials = credentials
        self._token: str | None = None
        self._timeout = timeout
        self._clients: dict[Endpoint, Etcd3Client] = {}
        self._current = 0

    @classmethod
    def from_config(cls, config: Connection, timeout: float = REQUEST_TIMEOUT,
                    members: Members | None = None) -> Etcd:
        """A client with the configured TLS files and credentials, on `members` or the configured endpoints."""
        credentials = Credentials(config.etcd_user, config.etcd_password or "") if config.etcd_user else None
        tls = TlsFiles(config.etcd_cert, config.etcd_key, config.etcd_ca)
        return cls(members or Members(config.etcd_endpoints), tls, timeout, credentials)

    def _client(self, endpoint: Endpoint) -> Etcd3Client:
        client = self._clients.get(endpoint)
        if client is None:
            tls = self._tls
            client = Etcd3Client(host=endpoint.host, port=endpoint.port, protocol=endpoint.scheme, ca_cert=tls.ca,
                                 cert_key=tls.key, cert_cert=tls.cert, timeout=self._timeout, api_path="/v3/")
            client.session.mount("http://", KeepAliveAdapter(pool_maxsize=MAX_IN_FLIGHT))
            client.session.mount("https://", KeepAliveAdapter(pool_maxsize=MAX_IN_FLIGHT))
            # No proxy variables for etcd, and REQUESTS_CA_BUNDLE must not replace our CA; also saves an
            # environment lookup per request.
            client.session.trust_env = False
            if self._token:
                client.session.headers["Authorization"] = self._token
            self._clients[endpoint] = client
        return client

    @property
    def endpoint(self) -> Endpoint:
        endpoints = self._members.current
        return endpoints[self._current % len(endpoints)]

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._members.current

    def discover_members(self) -> tuple[Endpoint, ...]:
        """List the cluster's members: their client URLs (and the configured endpoints) are what every
        client fails over between from now on. Called at start and at every periodic comparison, so a
        cluster whose members are replaced one by one is followed."""
        listed = []
        for member in self._post("cluster/member/list", {}).get("members") or []:
            for url in member.get("clientURLs") or []:
                parts = urlsplit(url)
                if parts.hostname and parts.port:
                    listed.append(Endpoint(parts.scheme or "http", parts.hostname, parts.port))
        self._members.update(listed)
        return self.endpoints

    def _next_endpoint(self) -> None:
        self._current = (self._current + 1) % len(self._members.current)

    def _ensure_token(self) -> None:
        if self._credentials and self._token is None:
            self.authenticate()

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._ensure_token()
        try:
            return self._post_once(path, payload)
        except TokenRefused:
            if not self._credentials:
                raise
        log.info("etcd auth token of %s expired; authenticating again", self._credentials.user)
        self.authenticate()
        return self._post_once(path, payload)

    def _post_once(self, path: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        op = path.rsplit("/", 1)[-1]
        try:
            reply = self._post_failing_over(path, payload, **options)
        except EtcdUnavailable:
            metrics.ETCD_REQUESTS.labels(op, "unavailable").inc()
            raise
        except EtcdRequestError:
            metrics.ETCD_REQUESTS.labels(op, "error").inc()
            raise
        metrics.ETCD_REQUESTS.labels(op, "ok").inc()
        return reply

    def _post_failing_over(self, path: str, payload: dict[str, Any], **options: Any) -> dict[str, Any]:
        failure, timed_out = "", False
        for _ in self._members.current:
            client = self._client(self.endpoint)
            try:
                return client.post(client.get_url(path), json=payload, **options)
            except (ConnectionFailedError, ConnectionTimeoutError, InternalServerError) as exc:
                failure = str(exc.detail_text or exc.__class__.__name__)
                timed_out = isinstance(exc, ConnectionTimeoutError)
                log.debug("etcd %s failed on %s: %s", path, self.endpoint, failure)
                self._next_endpoint()
            except Etcd3Exception as exc:
                raise request_error(path, str(exc.detail_text or exc)) from None
        reason = tls_reason(failure, client_cert=bool(self._tls.cert))
        if reason:
            raise EtcdTlsError(f"TLS to {self.endpoint}: {reason}")
        # a timeout's text begins with the pool ("HTTPConnectionPool(host=…, port=…): Read timed out."): say what it is
        said = f"timed out after {self._timeout:g} s" if timed_out else failure.split(":")[0][:80]
        if timed_out:
            raise EtcdSlow(f"no etcd endpoint answered ({said})", path, self._timeout)
        raise EtcdUnavailable(f"no etcd endpoint answered ({said})")

    def authenticate(self) -> None:
        """Get a token for the configured user and send it with every request from now on. Requests in
        flight keep the old token meanwhile: the header is replaced, never removed."""
        assert self._credentials is not None
        reply = self._post_once("auth/authenticate", {"name": self._credentials.user,
                                                       "password": self._credentials.password},
                                headers={"Authorization": None})
        self._token = str(reply["token"])
        for client in self._clients.values():
            client.session.headers["Authorization"] = self._token

    def status(self) -> dict[str, Any]:
        return self._post("maintenance/status", {})

    def out_of_space(self) -> bool:
        """Whether etcd's NOSPACE alarm is raised (its backend reached --quota-backend-bytes): it then refuses
        every write until an operator makes room and disarms it."""
        alarms = self._post("maintenance/alarm", {"action": "GET"}).get("alarms") or []
        return any(alarm.get("alarm") == "NOSPACE" for alarm in alarms)

    def get(self, key: str) -> KeyValue | None:
        kvs = self._post("kv/range", {"key": b64(key)}).get("kvs") or []
        return decode_kv(kvs[0]) if kvs else None

    def read(self, keys: Collection[str] = (), prefixes: Collection[str] = (),
             revision: int = 0) -> tuple[list[KeyValue], int]:
        """The values of `keys` and of every key under `prefixes`, at one revision, which is returned too
        (0 when nothing was asked).

        Range requests go in transactions of up to MAX_TXN_OPS: one round trip per 128 keys or prefixes.
        `revision` (0: the current one) reads the store as it was then.
        """
        requests_ = [(key, False) for key in sorted(keys)] + [(prefix, True) for prefix in sorted(prefixes)]
        batches = [requests_[start:start + MAX_TXN_OPS] for start in range(0, len(requests_), MAX_TXN_OPS)]
        if not batches:
            return [], revision
        found, revision = self._read_batch(batches[0], revision)
        for more, _ in gevent.pool.Pool(MAX_IN_FLIGHT).imap(lambda batch: self._read_batch(batch, revision),
                                                             batches[1:]):
            found.extend(more)
        metrics.KEYS_READ.inc(len(found))
        return found, revision

    def pages(self, prefix: str, revision: int = 0, keys_only: bool = False,
              limit: int = PAGE_SIZE) -> Iterator[tuple[list[KeyValue], int]]:
        """Every key under `prefix`, a page of up to `limit` at a time, each page a range request continuing after
        the last key of the one before, all at one revision: `revision`, or (0) the one the first page was read
        at. Yields each page (empty only when nothing is there) with that revision. `keys_only`: values are ""
        (the lease comes with each key anyway). A revision compacted meanwhile ends it with etcd's error."""
        for kvs, at in self._raw_pages(prefix, revision, keys_only, limit):
            yield [decode_kv(kv) for kv in kvs], at

    def key_pages(self, prefix: str, revision: int = 0, limit: int = PAGE_SIZE) -> Iterator[tuple[list[str], int]]:
        """The names of the keys under `prefix`, paged as `pages` pages them (keys only), for what is only counted:
        no lease, no revisions, no `KeyValue` made (15 ms instead of 106 ms for 30,000 keys, measured)."""
        for kvs, at in self._raw_pages(prefix, revision, True, limit):
            yield [text_of(kv["key"]) for kv in kvs], at

    def _raw_pages(self, prefix: str, revision: int, keys_only: bool,
                   limit: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """The pages of `pages` as etcd's JSON gives them. The next page is asked for before this one is decoded
        and used: etcd makes it meanwhile."""
        reply = self._post("kv/range", page_request(b64(prefix), prefix, revision, limit, keys_only))
        while True:
            revision = revision or int(reply["header"]["revision"])
            kvs = reply.get("kvs") or []
            following = None
            if reply.get("more") and kvs:
                request = page_request(key_after(kvs[-1]["key"]), prefix, revision, limit, keys_only)
                following = gevent.spawn(self._post, "kv/range", request)
                gevent.sleep(0)  # it sends its request now, then waits for the answer while this page is used
            metrics.KEYS_READ.inc(len(kvs))
            yield kvs, revision
            if following is None:
                return
            reply = following.get()

    def _read_batch(self, batch: list[tuple[str, bool]], revision: int) -> tuple[list[KeyValue], int]:
        """One transaction of range requests at `revision` (0: the current one, which the reply tells). The
        first batch of a read fixes the revision; the others then run side by side, MAX_IN_FLIGHT at once."""
        reply = self._post("kv/txn", {"success": [range_request(key, prefix, revision) for key, prefix in batch]})
        found = [decode_kv(kv) for response in reply.get("responses") or []
                 for kv in (response.get("response_range") or {}).get("kvs") or []]
        return found, revision or int(reply["header"]["revision"])

    def delete_prefix(self, prefix: str) -> int:
        reply = self._post("kv/deleterange", {"key": b64(prefix), "range_end": prefix_end(prefix)})
        return int(reply.get("deleted") or 0)

    def txn(self, ops: Iterable[Op], lease: int) -> int:
        """Apply `ops` atomically; returns the revision they were written at."""
        reply = self._post("kv/txn", {"success": [op_request(op, lease) for op in ops]})
        return int(reply["header"]["revision"])

    def lease_grant(self, ttl: int) -> int:
        return int(self._post("lease/grant", {"TTL": ttl})["ID"])

    def lease_refresh(self, lease: int) -> int:
        """The lease's new TTL; 0 or less when the lease is gone."""
        reply = self._post("lease/keepalive", {"ID": str(lease)})
        return int((reply.get("result") or {}).get("TTL") or -1)

    def lease_info(self, lease: int, keys: bool = False) -> LeaseInfo:
        """The lease's granted and remaining TTL, and with `keys` the keys attached to it."""
        reply = self._post("lease/timetolive", {"ID": str(lease), "keys": keys})
        names = tuple(text_of(key) for key in reply.get("keys") or [])
        metrics.KEYS_READ.inc(len(names))
        return LeaseInfo(int(reply.get("grantedTTL") or 0), int(reply.get("TTL") or -1), names)

    def lease_infos(self, leases: Iterable[int]) -> dict[int, LeaseInfo]:
        """Each lease's TTLs (a gone one: remaining -1), MAX_IN_FLIGHT asked at once: `status` asks one per host."""
        def one(lease: int) -> tuple[int, LeaseInfo]:
            try:
                return lease, self.lease_info(lease)
            except LeaseNotFound:
                return lease, LeaseInfo(0, -1)

        return dict(gevent.pool.Pool(MAX_IN_FLIGHT).imap_unordered(one, leases))

    def lease_revoke(self, lease: int) -> None:
        try:
            self._post("lease/revoke", {"ID": str(lease)})
        except LeaseNotFound:
            log.info("lease %x was already gone", lease)

    def watch(self, key: str, start_revision: int) -> Iterator[WatchReply]:
        """Watch `key` (a prefix when it ends with "/": every key under it) from `start_revision` on. Ends (or
        raises) when the stream does."""
        self._ensure_token()
        client = self._client(self.endpoint)
        request = {"key": b64(key), "start_revision": str(start_revision), "progress_notify": True}
        if key.endswith("/"):
            request["range_end"] = prefix_end(key)
        try:
            reply = client.session.post(client.get_url("watch"), json={"create_request": request}, stream=True,
                                        timeout=(WATCH_CONNECT_TIMEOUT, WATCH_IDLE_TIMEOUT), headers=REQUIRE_LEADER)
            reply.raise_for_status()
        except requests.RequestException as exc:
            self._next_endpoint()
            raise EtcdUnavailable(f"watch on {client.base_url}: {exc.__class__.__name__}") from None
        return self._read_watch(reply)

    def _read_watch(self, reply: requests.Response) -> Iterator[WatchReply]:
        """The replies of one watch stream. Silence past WATCH_IDLE_TIMEOUT after etcd answered raises
        WatchSilent; before any answer the member is taken to be unresponsive (frozen, overloaded): the next
        request goes to the next endpoint."""
        stream = JsonStream()
        answered = False
        with reply:
            try:
                for chunk in reply.iter_content(chunk_size=None):
                    for message in stream.feed(chunk):
                        answered = True
                        yield self._watch_reply(message)
            except requests.ConnectionError as exc:
                if not (exc.args and isinstance(exc.args[0], ReadTimeoutError)):
                    log.debug("watch stream ended: %s", exc)
                elif answered:
                    raise WatchSilent(f"watch on {reply.url}: silent for {WATCH_IDLE_TIMEOUT:g}s") from None
                else:  # a frozen member, or a token etcd does not know (no answer at all): both are tried anew
                    self._next_endpoint()
                    self._token = None
                    raise EtcdUnavailable(f"watch on {reply.url}: no answer in {WATCH_IDLE_TIMEOUT:g}s") from None
            except (requests.RequestException, ValueError) as exc:
                log.debug("watch stream ended: %s", exc)

    def _watch_reply(self, message: dict[str, Any]) -> WatchReply:
        if "error" in message:
            text = json.dumps(message)
            code = grpc_code(text)
            if code == UNAUTHENTICATED:
                self._token = None  # the next request authenticates again
            elif code == UNAVAILABLE:  # "no leader": a member cut off from the quorum
                self._next_endpoint()
            log.debug("watch answered with an error: %s", text)
            return WatchReply(0, canceled=True)
        result = message.get("result") or {}
        if result.get("canceled") and auth_canceled(str(result.get("cancel_reason") or "")):
            self._token = None  # the next watch authenticates again
        return watch_result(result)
