"""Every operation of protocol version 2, written once for both clients (docs/protocol.md, "Messages").

A client supplies ``_request``: what it returns is what each operation returns (a Result for the blocking client,
a concurrent.futures.Future for its ``futures`` view, an awaitable for the asyncio client). Each operation that
changes the ledger takes an optional ``request_id``: without one the client makes a fresh one (its RequestIds);
give your own to retry an operation across client restarts. A retry with the same id and the same fields gets the
original result, marked duplicate."""

from __future__ import annotations

from typing import Generic, Iterable, TypeVar

from ._protocol import (Credit, Deduct, Freeze, Grant, Period, Query, Release, Reserve, RevokeVirtualKey,
                        SetConcurrency, SetGroup, SetLimit, SetPrice, SetRateLimit, SetSpendWindow, SetVirtualKey,
                        SetVirtualKeyServiceBudget, Settle, Unfreeze)
from ._types import RequestId, RequestIdLike

R = TypeVar("R")

MAX_SERVICES = 12
"""The most services a virtual key's list of allowed services may name (the ledger's limit; more: INVALID_ARGUMENT)."""


class Operations(Generic[R]):
    """The protocol's operations; ``R`` is what a call returns."""

    def _request(self, message: type, frame_length: int, request_id: RequestIdLike | None | bool,
                 fields: tuple) -> R:
        """Sends ``message`` with the correlation id, the request id (None: a new one; False: the message has
        none) and ``fields``, in the generated encoder's order."""
        raise NotImplementedError

    def deduct(self, user_id: int, service_id: int, amount: int = 0, *, virtual_key_id: int = 0, units: int = 0,
               request_id: RequestIdLike | None = None) -> R:
        """Charges ``amount`` (or ``units`` priced by the user's price group; exactly one > 0): free quota of the
        service's current period first, then the balance. Through a virtual key when ``virtual_key_id`` > 0."""
        return self._request(Deduct, Deduct.FRAME_LENGTH, request_id,
                             (user_id, service_id, amount, virtual_key_id, units))

    def reserve(self, user_id: int, service_id: int, amount: int = 0, *, ttl_millis: int, virtual_key_id: int = 0,
                units: int = 0, request_id: RequestIdLike | None = None) -> R:
        """Takes ``amount`` (or priced ``units``) now and holds it under the request id, the hold id that settle
        and release name (``result.request_id``). Unsettled after ``ttl_millis`` the hold is released."""
        return self._request(Reserve, Reserve.FRAME_LENGTH, request_id,
                             (user_id, service_id, amount, ttl_millis, virtual_key_id, units))

    def settle(self, hold_id: RequestIdLike, actual: int, *, request_id: RequestIdLike | None = None) -> R:
        """Charges ``actual`` (an amount, not units) against the hold and returns the rest."""
        hold = RequestId.of(hold_id)
        return self._request(Settle, Settle.FRAME_LENGTH, request_id, (hold.hi, hold.lo, actual))

    def release(self, hold_id: RequestIdLike, *, request_id: RequestIdLike | None = None) -> R:
        """Returns the whole hold."""
        hold = RequestId.of(hold_id)
        return self._request(Release, Release.FRAME_LENGTH, request_id, (hold.hi, hold.lo))

    def credit(self, user_id: int, amount: int, *, request_id: RequestIdLike | None = None) -> R:
        """Admin: tops the balance up; opens the account."""
        return self._request(Credit, Credit.FRAME_LENGTH, request_id, (user_id, amount))

    def grant(self, user_id: int, service_id: int, allowance: int, period: Period | int,
              *, request_id: RequestIdLike | None = None) -> R:
        """Admin: a free allowance of the service per period (DAY, WEEK, MONTH, UTC); opens the account."""
        return self._request(Grant, Grant.FRAME_LENGTH, request_id,
                             (user_id, service_id, allowance, period))

    def set_limit(self, user_id: int, credit_limit: int, *, request_id: RequestIdLike | None = None) -> R:
        """Admin: how far below zero charges may take the balance."""
        return self._request(SetLimit, SetLimit.FRAME_LENGTH, request_id, (user_id, credit_limit))

    def freeze(self, user_id: int, *, request_id: RequestIdLike | None = None) -> R:
        """Admin: refuse charges to the account (settle and release still work)."""
        return self._request(Freeze, Freeze.FRAME_LENGTH, request_id, (user_id,))

    def unfreeze(self, user_id: int, *, request_id: RequestIdLike | None = None) -> R:
        """Admin."""
        return self._request(Unfreeze, Unfreeze.FRAME_LENGTH, request_id, (user_id,))

    def query(self, user_id: int, service_id: int = 0, *, virtual_key_id: int = 0) -> R:
        """Read-only: the account (and the service's free quota, and the virtual key's state when given)."""
        return self._request(Query, Query.FRAME_LENGTH, False, (user_id, service_id, virtual_key_id))

    def set_virtual_key(self, user_id: int, virtual_key_id: int, *, budget: int = 0, unlimited: bool = False,
                        reset_period: Period | int = Period.NONE, reset_millis: int = 0, expires_at: int = 0,
                        services: Iterable[int] = (), request_id: RequestIdLike | None = None) -> R:
        """Admin: creates or updates a virtual key of the user: its budget per period (``unlimited`` ignores it),
        the period (DAY, WEEK, MONTH; NONE: every ``reset_millis``, 0 never), ``expires_at`` (epoch ms, 0 never)
        and the allowed services (none: every service; at most MAX_SERVICES)."""
        allowed = tuple(services)
        return self._request(SetVirtualKey, SetVirtualKey.frame_length(allowed), request_id,
                             (user_id, virtual_key_id, budget, 1 if unlimited else 0, reset_period, reset_millis,
                              expires_at, allowed))

    def set_virtual_key_service_budget(self, user_id: int, virtual_key_id: int, service_id: int, budget: int,
                                       *, request_id: RequestIdLike | None = None) -> R:
        """Admin: the key's budget for one service per period of the key; -1 removes it."""
        return self._request(SetVirtualKeyServiceBudget, SetVirtualKeyServiceBudget.FRAME_LENGTH,
                             request_id, (user_id, virtual_key_id, service_id, budget))

    def revoke_virtual_key(self, user_id: int, virtual_key_id: int, *,
                           request_id: RequestIdLike | None = None) -> R:
        """Admin: final, the key charges nothing more."""
        return self._request(RevokeVirtualKey, RevokeVirtualKey.FRAME_LENGTH, request_id,
                             (user_id, virtual_key_id))

    def set_price(self, group_id: int, service_id: int, multiplier: int, *,
                  request_id: RequestIdLike | None = None) -> R:
        """Admin: a price group's multiplier for a service (0: the group's default), fixed point: 1_000_000 is
        1.0."""
        return self._request(SetPrice, SetPrice.FRAME_LENGTH, request_id, (group_id, service_id, multiplier))

    def set_group(self, user_id: int, group_id: int, *, request_id: RequestIdLike | None = None) -> R:
        """Admin: puts the user in a price group (0: the default group)."""
        return self._request(SetGroup, SetGroup.FRAME_LENGTH, request_id, (user_id, group_id))

    def set_rate_limit(self, user_id: int, *, requests: int = 0, units: int = 0, per_millis: int,
                       virtual_key_id: int = 0, request_id: RequestIdLike | None = None) -> R:
        """Admin: at most ``requests`` requests and ``units`` units per ``per_millis`` of the user (or of the key);
        0 turns a dimension off, both 0 remove the limit."""
        return self._request(SetRateLimit, SetRateLimit.FRAME_LENGTH, request_id,
                             (user_id, virtual_key_id, requests, units, per_millis))

    def set_spend_window(self, user_id: int, max_amount: int, per_millis: int, *, virtual_key_id: int = 0,
                         request_id: RequestIdLike | None = None) -> R:
        """Admin: at most ``max_amount`` charged in any window of ``per_millis`` (the length names the window; up
        to 4 per user or key); 0 removes it."""
        return self._request(SetSpendWindow, SetSpendWindow.FRAME_LENGTH, request_id,
                             (user_id, virtual_key_id, max_amount, per_millis))

    def set_concurrency(self, user_id: int, max_holds: int, *, virtual_key_id: int = 0,
                        request_id: RequestIdLike | None = None) -> R:
        """Admin: at most ``max_holds`` open holds of the user (or of the key); 0 removes the cap."""
        return self._request(SetConcurrency, SetConcurrency.FRAME_LENGTH, request_id,
                             (user_id, virtual_key_id, max_holds))
