"""How `status` reads etcd: in pages at one revision, each page added to the `Registry` as it comes, so what is
held is the report's model, never the raw answer (issue 25); then the lease of every marker, several at once.
A reader of its own (a web view) builds the same Registry from the same ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from agent.adapters.etcd import Etcd
from agent.adapters.etcd_errors import EtcdSlow
from agent.core.kv import KeyValue, LeaseInfo
from agent.core.marker import MARKERS
from agent.layouts.ec import HOSTS
from agent.status.registry import Registry, slash_root
from agent.status.report import marker_leases
from agent.status.settings import SUMMARY, StatusConfig

Progress = Callable[[int], None]  # told the keys read so far, after each page
Item = TypeVar("Item", KeyValue, str)


@dataclass(frozen=True)
class Range:
    """Every key under `prefix`, with values or (`keys_only`) without: the lease comes with each key anyway; or
    (`names_only`) the keys' names alone, which are only counted."""

    prefix: str
    keys_only: bool = False
    names_only: bool = False


def ranges(config: StatusConfig) -> tuple[Range, ...]:
    """What a view reads: the whole registry (the ec root and the traefik root with values; the backends root and
    `/T` keys only: of those the report needs the lease and the key), or for `--summary` the markers and the
    host indexes (their names alone: counted)."""
    if config.view == SUMMARY:
        return Range(f"{config.etcd_dir}/{MARKERS}/"), Range(f"{config.etcd_dir}/{HOSTS}/", names_only=True)
    wrong_root = slash_root(config.etcd_dir, config.backends_dir, config.traefik_root)
    wrong = (Range(wrong_root + "/", keys_only=True),) if wrong_root else ()
    return (Range(config.etcd_dir + "/"), Range(config.backends_dir + "/", keys_only=True),
            Range(config.traefik_root + "/"), *wrong)


def read_registry(etcd: Etcd, config: StatusConfig,
                  progress: Progress | None = None) -> tuple[Registry, int, dict[int, LeaseInfo]]:
    """The registry under `ranges(config)`, read page by page at the revision of the first page (the ranges read
    whole first, then those only counted), then what etcd says of every lease a marker is on or names (not for
    `--summary`: one request per host, see docs/decisions.md)."""
    registry = Registry.empty(config.etcd_dir, config.backends_dir, config.traefik_root)
    wanted, revision = ranges(config), 0
    kept, counted = [where for where in wanted if not where.names_only], [where for where in wanted if where.names_only]
    for page, at in paged(etcd, kept, config.page_size):
        registry.add_all(page)
        revision = at
        tell(progress, registry)
    for names, at in named(etcd, counted, config.page_size, revision, registry.read):
        registry.count_all(names)
        revision = at
        tell(progress, registry)
    return registry, revision, {} if config.view == SUMMARY else marker_lease_infos(etcd, registry)


def tell(progress: Progress | None, registry: Registry) -> None:
    if progress is not None:
        progress(registry.read)


def paged(etcd: Etcd, wanted: Sequence[Range], size: int, revision: int = 0) -> Iterator[tuple[list[KeyValue], int]]:
    """The pages of every range, all at `revision` or (0) at that of the first page. A page etcd does not answer
    in time says which it was."""
    return told(wanted, size, revision, 0,
                lambda where, at: etcd.pages(where.prefix, at, keys_only=where.keys_only, limit=size))


def named(etcd: Etcd, wanted: Sequence[Range], size: int, revision: int = 0,
          before: int = 0) -> Iterator[tuple[list[str], int]]:
    """The names of the keys of every range, in pages as `paged` (`before`: the keys read before them)."""
    return told(wanted, size, revision, before, lambda where, at: etcd.key_pages(where.prefix, at, limit=size))


def told(wanted: Sequence[Range], size: int, revision: int, read: int,
         pages_of: Callable[[Range, int], Iterator[tuple[list[Item], int]]]) -> Iterator[tuple[list[Item], int]]:
    """The pages `pages_of` reads of every range at `revision` (0: that of the first page), `read` keys read
    before them; a page etcd does not answer in time says which it was."""
    for where in wanted:
        pages, number = pages_of(where, revision), 1
        while True:
            try:
                page, revision = next(pages)
            except StopIteration:
                break
            except EtcdSlow as exc:
                raise EtcdSlow(str(exc), f"the range request for page {number} of {where.prefix} ({size:,} keys a "
                               f"page, {read:,} keys read before it)", exc.seconds) from None
            read, number = read + len(page), number + 1
            yield page, revision


def marker_lease_infos(etcd: Etcd, registry: Registry) -> dict[int, LeaseInfo]:
    """What etcd says of every lease a marker is on or names."""
    return etcd.lease_infos(sorted(marker_leases(registry.markers.values())))
