"""Python client of the quota ledger (standard library only).

- LedgerClient: blocking and thread-safe; ``client.futures`` pipelines with concurrent.futures.
- AsyncLedgerClient: asyncio; every operation returns a future at once, a loop tick's frames go out in one write.

Both speak protocol version 2 (docs/protocol.md), every operation included, resend a request with its very same
request id after a timeout or a reconnect (a retry never charges twice), speak TLS, and read the API key the way
the ``ledger`` CLI does (read_key). A refused request raises RejectedError, whose ``code`` is a ResultCode.
"""

from ._keys import read_key
from ._ops import MAX_SERVICES
from ._protocol import SCHEMA_VERSION, Op, Period, ResultCode, ResultFlags, Role
from ._types import (AuthenticationError, ClientClosedError, KeyNotFoundError, LedgerConnectionError, LedgerError,
                     LedgerTimeoutError, RejectedError, RequestId, RequestIds, Result, SnapshotReport)
from .aio import AsyncLedgerClient
from .client import LedgerClient

PROTOCOL_VERSION = SCHEMA_VERSION
"""The protocol version both clients speak."""

__version__ = "0.1.0"

__all__ = [
    "AsyncLedgerClient", "AuthenticationError", "ClientClosedError", "KeyNotFoundError", "LedgerClient",
    "LedgerConnectionError", "LedgerError", "LedgerTimeoutError", "MAX_SERVICES", "Op", "PROTOCOL_VERSION", "Period",
    "RejectedError", "RequestId", "RequestIds", "Result", "ResultCode", "ResultFlags", "Role", "SnapshotReport",
    "read_key",
]
