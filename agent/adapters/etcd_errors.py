"""What can go wrong talking to etcd, classified by the gRPC status code etcd answers with (never by its
message text), and TLS failures told in the operator's terms."""

from __future__ import annotations

import json
import re


class EtcdError(Exception):
    """etcd did not do what was asked."""


class EtcdUnavailable(EtcdError):
    """No endpoint answered."""


class EtcdTlsError(EtcdUnavailable):
    """The TLS handshake failed: a setting to fix, not an outage to wait out (at start-up)."""


class EtcdSlow(EtcdUnavailable):
    """etcd took the connection but did not answer `request` within `seconds`: slow (overloaded, a big answer), not
    down. `request` says which (the adapter: the path; a reader of pages may say which page)."""

    def __init__(self, message: str, request: str, seconds: float) -> None:
        super().__init__(message)
        self.request = request
        self.seconds = seconds


class WatchSilent(EtcdUnavailable):
    """A watch that etcd had answered said nothing for the idle timeout: nothing changed, and etcd's progress
    notifications (every 10 minutes by default) are rarer than that. Opened again at once; no interruption."""


class EtcdRequestError(EtcdError):
    """etcd answered with an error; `code` is the gRPC status code it gave (0 when none)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class LeaseNotFound(EtcdRequestError):
    """The lease a request named has expired or was revoked (gRPC NOT_FOUND, to a put as to a keepalive)."""


class EtcdAuthFailed(EtcdRequestError):
    """etcd refused the user name or password (gRPC INVALID_ARGUMENT to auth/authenticate)."""


class TokenRefused(EtcdRequestError):
    """etcd no longer accepts our auth token (gRPC UNAUTHENTICATED): authenticate again."""


NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE, UNAUTHENTICATED = 5, 3, 14, 16  # gRPC status codes etcd answers with
# etcd refuses a write with RESOURCE_EXHAUSTED when it is out of space (its NOSPACE alarm) and when it is
# overloaded ("too many requests"): which of the two, its alarm list tells (`Etcd.out_of_space`)
RESOURCE_EXHAUSTED = 8


_AUTH_CANCEL = re.compile(r"\bcode = (PermissionDenied|Unauthenticated)\b")


def auth_canceled(cancel_reason: str) -> bool:
    """A watch etcd canceled for its token (after a restart it no longer knows the token, or it expired): the
    reason is text only, `rpc error: code = PermissionDenied desc = etcdserver: permission denied`; its gRPC
    code name is what is read, not the description."""
    return bool(_AUTH_CANCEL.search(cancel_reason))


def grpc_code(text: str) -> int:
    """The gRPC status code in a grpc-gateway error body: `{"code": 5, ...}` or `{"error": {"grpc_code": 5}}`."""
    try:
        body = json.loads(text)
    except ValueError:
        return 0
    if not isinstance(body, dict):
        return 0
    error = body.get("error")
    code = error.get("grpc_code") if isinstance(error, dict) else body.get("code")
    return code if isinstance(code, int) else 0


def request_error(path: str, text: str) -> EtcdRequestError:
    """The error etcd's answer to `path` stands for, classified by its gRPC code."""
    code = grpc_code(text)
    if code == NOT_FOUND:  # of what this agent asks for, only leases can be missing
        return LeaseNotFound(f"etcd {path}: lease not found", code)
    if code == INVALID_ARGUMENT and path == "auth/authenticate":
        return EtcdAuthFailed("authentication failed: invalid user name or password", code)
    if code == UNAUTHENTICATED:
        return TokenRefused(f"etcd {path}: auth token refused", code)
    return EtcdRequestError(f"etcd {path}: {text.strip()[:200]}", code)


TLS_REASONS = (
    ("CERTIFICATE_VERIFY_FAILED", "the server's certificate is not signed by EC_REGISTRATOR_ETCD_CA"),
    ("certificate required", "the server requires a client certificate (EC_REGISTRATOR_ETCD_CERT and _KEY)"),
    ("unknown ca", "the server does not trust our client certificate (EC_REGISTRATOR_ETCD_CERT)"),
    ("bad certificate", "the server refused our client certificate (EC_REGISTRATOR_ETCD_CERT)"),
    ("certificate expired", "a certificate has expired"),
    ("WRONG_VERSION_NUMBER", "the server does not speak TLS here; use http:// or drop the TLS settings"),
)


def tls_reason(text: str, client_cert: bool) -> str | None:
    """What a failed request's text says about TLS, in the operator's terms; None when it is not TLS."""
    for needle, reason in TLS_REASONS:
        if needle in text:
            return reason
    if "SSLError" not in text:
        return None
    if "EOF" in text:  # the server hung up in the handshake: with etcd, about the client certificate
        return ("the server ended the TLS handshake: it does not accept our client certificate (EC_REGISTRATOR_"
                "ETCD_CERT)" if client_cert else "the server ended the TLS handshake: it requires a client "
                "certificate (EC_REGISTRATOR_ETCD_CERT and _KEY)")
    return "TLS handshake failed"
