"""The TLS files of EC_REGISTRATOR_ETCD_CERT, _KEY and _CA, checked at start: one line naming the variable."""

from __future__ import annotations

import os
import ssl
import time


class TlsFileError(Exception):
    """A TLS file that the first request would fail on; the message names the variable."""


def check_tls_files(cert: str | None, key: str | None, ca: str | None) -> None:
    """Refuse at start what TLS would refuse at the first request: a missing or unreadable file, a lone cert or
    key, a pair that does not match, an expired certificate, a CA file that holds no certificate."""
    for part, path in (("CERT", cert), ("KEY", key), ("CA", ca)):
        if path:
            _check_readable(f"EC_REGISTRATOR_ETCD_{part}", path)
    if bool(cert) != bool(key):
        raise TlsFileError("EC_REGISTRATOR_ETCD_CERT: expected both a certificate and its key "
                          "(EC_REGISTRATOR_ETCD_CERT and EC_REGISTRATOR_ETCD_KEY)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert and key:
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise TlsFileError("EC_REGISTRATOR_ETCD_KEY: expected the private key of EC_REGISTRATOR_ETCD_CERT "
                              f"({exc.reason or exc})") from None
        _check_not_expired("EC_REGISTRATOR_ETCD_CERT", cert)
    if ca:
        try:
            context.load_verify_locations(ca)
        except ssl.SSLError as exc:
            raise TlsFileError(f"EC_REGISTRATOR_ETCD_CA: expected PEM CA certificates ({exc.reason or exc})") from None


def _check_readable(name: str, path: str) -> None:
    if not os.path.isfile(path):
        raise TlsFileError(f"{name}: expected a readable file, {path!r} does not exist")
    if not os.access(path, os.R_OK):
        raise TlsFileError(f"{name}: expected a readable file, {path!r} is not readable by this user")


def _check_not_expired(name: str, path: str) -> None:
    try:
        not_after = ssl._ssl._test_decode_cert(path)["notAfter"]  # type: ignore[attr-defined]
    except (AttributeError, KeyError, ssl.SSLError):
        return  # cannot tell here; the handshake will
    if ssl.cert_time_to_seconds(not_after) < time.time():
        raise TlsFileError(f"{name}: the certificate expired on {not_after}; expected a valid one")
