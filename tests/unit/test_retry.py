"""core.retry: the one retry rule (statuses, Retry-After, DeliveryError, RetryPolicy, next_wait).

Pure functions: no clock, no sleep; the random source is injected. The last tests run the
dispatcher on the policy with a simulated clock.
"""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from alerts.dispatch import deliver
from alerts.metrics import DeliveryMetrics
from alerts.notify import BaseNotifier
from core.alert import Alert, alert_id
from core.retry import (
    RETRY_STATUS,
    DeliveryError,
    RetryPolicy,
    as_delivery_error,
    next_wait,
    retryable_error,
    retryable_status,
)
from core.ssrf import BlockedAddress

NOW = 1_731_585_600.0  # Thu, 14 Nov 2024 12:00:00 GMT


def fixed(u: float):
    """A random source that always answers ``u``."""
    return lambda: u


def no_rand():
    raise AssertionError("the jitter drew a number with jitter=0")


# -- statuses and errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,retry",
    [
        (408, True),
        (425, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (410, False),
        (413, False),
        (422, False),
        (307, False),
    ],
)
def test_retryable_status(status, retry):
    assert retryable_status(status) is retry
    assert RETRY_STATUS == {408, 425, 429}


@pytest.mark.parametrize(
    "status,header,retry,gone,after",
    [
        (503, "12", True, False, 12.0),
        (429, "Thu, 14 Nov 2024 12:00:30 GMT", True, False, 30.0),
        (429, "Thu, 14 Nov 2024 11:00:00 GMT", True, False, 0.0),  # in the past: now
        (429, "soon", True, False, None),
        (500, None, True, False, None),
        (410, None, False, True, None),
        (400, "5", False, False, 5.0),  # kept, but a non-retryable error is never retried
    ],
)
def test_delivery_error_from_status(status, header, retry, gone, after):
    err = DeliveryError.from_status(status, header, NOW, message=f"HTTP {status}")
    assert (err.status, err.retryable, err.permanent, err.retry_after, str(err)) == (
        status,
        retry,
        gone,
        after,
        f"HTTP {status}",
    )


def test_from_response_builds_the_subclass_with_its_own_fields():
    class HookError(DeliveryError):
        def __init__(self, status, body, retry_after=None):
            super().__init__(f"hook {status}", status=status, retry_after=retry_after)
            self.body = body

    err = HookError.from_response(httpx.Response(429, headers={"Retry-After": "7"}), NOW, body="slow")
    assert isinstance(err, HookError) and (err.status, err.retry_after, err.body, err.retryable) == (
        429,
        7.0,
        "slow",
        True,
    )


def test_explicit_attributes_win_and_gone_is_never_retryable():
    assert DeliveryError("x", status=404, permanent=True).permanent is True
    assert DeliveryError("x", status=500, retryable=False).retryable is False
    assert DeliveryError("x", retryable=True, permanent=True).retryable is False
    assert DeliveryError("disk full", retryable=True).status is None


@pytest.mark.parametrize(
    "exc,retry",
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.RemoteProtocolError("eof"), True),
        (httpx.UnsupportedProtocol("ftp"), False),
        (httpx.LocalProtocolError("bad header"), False),
        (ConnectionResetError("reset"), True),
        (TimeoutError(), True),
        (ValueError("bad timestamp"), False),
        (KeyError("bug"), False),
        (BlockedAddress("10.0.0.1 is private"), False),
        (DeliveryError("x", status=503), True),
        (DeliveryError("x", status=410), False),
    ],
)
def test_retryable_error(exc, retry):
    assert retryable_error(exc) is retry
    err = as_delivery_error(exc)
    assert isinstance(err, DeliveryError) and err.retryable is retry


def test_as_delivery_error_keeps_the_cause_and_a_readable_message():
    cause = httpx.ConnectError("refused")
    err = as_delivery_error(cause)
    assert err.__cause__ is cause and str(err) == "ConnectError: refused" and err.status is None
    assert str(as_delivery_error(TimeoutError())) == "TimeoutError"
    assert as_delivery_error(OSError("disk full"), retryable=True).retryable is True
    assert str(as_delivery_error(ValueError("k3y"), message="<redacted>")) == "<redacted>"
    same = DeliveryError("x")
    assert as_delivery_error(same) is same
    blocked = BlockedAddress("no")
    assert as_delivery_error(blocked) is blocked and blocked.retryable is False


def test_policy_refuses_nonsense():
    for bad in (
        dict(max_attempts=0),
        dict(initial=-1),
        dict(max_wait=-1),
        dict(max_age=-1),
        dict(jitter=1.5),
        dict(jitter=-0.1),
        dict(max_retry_after=-1),
        dict(max_age=math.nan),
    ):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)


# -- next_wait: table ---------------------------------------------------------------------

P = RetryPolicy(max_attempts=5, initial=1.0, max_wait=8.0, max_age=60.0, jitter=0.0)
DOWN = DeliveryError("down", status=503)
LIMITED = DeliveryError("slow down", status=429, retry_after=20.0)


@pytest.mark.parametrize(
    "attempt,error,policy,kw,want",
    [
        # exponential from initial, capped at max_wait
        (1, DOWN, P, {}, 1.0),
        (2, DOWN, P, {}, 2.0),
        (3, DOWN, P, {}, 4.0),
        (4, DOWN, P, {}, 8.0),
        (4, DOWN, RetryPolicy(max_attempts=9, initial=1, max_wait=5, jitter=0), {}, 5.0),
        # give up after max_attempts
        (5, DOWN, P, {}, None),
        (6, DOWN, P, {}, None),
        (1, DOWN, RetryPolicy(max_attempts=1), {}, None),
        # nothing to retry, or not worth it
        (1, None, P, {}, None),
        (1, DeliveryError("bad request", status=400), P, {}, None),
        (1, DeliveryError("gone", status=410), P, {}, None),
        (1, DeliveryError("archived", status=404, permanent=True, retry_after=1.0), P, {}, None),
        (1, BlockedAddress("169.254.169.254 is link-local"), P, {}, None),
        (1, ValueError("bad timestamp"), P, {}, None),
        # transport errors are retryable
        (1, httpx.ConnectError("refused"), P, {}, 1.0),
        (2, httpx.ReadTimeout("slow"), P, {}, 2.0),
        # Retry-After: longer than the backoff wins, up to max_age (or max_retry_after)
        (1, LIMITED, P, {}, 20.0),
        (1, DOWN, P, dict(retry_after=30.0), 30.0),
        (1, LIMITED, P, dict(retry_after=3.0), 3.0),  # the argument over the error's own
        (4, DOWN, P, dict(retry_after=3.0), 8.0),  # shorter than the backoff: the backoff
        (1, DOWN, P, dict(retry_after=3600.0), 60.0),  # capped at max_age
        (1, DOWN, RetryPolicy(max_attempts=5, initial=1, jitter=0, max_retry_after=45), dict(retry_after=3600.0), 45.0),
        (1, DOWN, P, dict(retry_after=0.0), 1.0),
        # max_age: no attempt starts later than that after the first
        (2, DOWN, P, dict(elapsed=57.0), 2.0),
        (2, DOWN, P, dict(elapsed=58.5), None),
        (1, LIMITED, P, dict(elapsed=30.0), 20.0),
        (1, LIMITED, P, dict(elapsed=45.0), None),  # the receiver's 20 s would end past max_age
        (3, DOWN, RetryPolicy(max_attempts=9, initial=1, jitter=0, max_age=math.inf), dict(elapsed=1e9), 4.0),
    ],
)
def test_next_wait(attempt, error, policy, kw, want):
    assert next_wait(attempt, error, policy, rand=no_rand, **kw) == want


@pytest.mark.parametrize("u,want", [(0.0, 3.0), (0.5, 4.0), (0.999999, 5.0)])
def test_jitter_moves_the_backoff_by_up_to_its_fraction(u, want):
    policy = RetryPolicy(initial=1, max_wait=100, jitter=0.25)
    assert next_wait(3, DOWN, policy, rand=fixed(u)) == pytest.approx(want, abs=1e-5)


def test_jitter_stays_under_the_cap():
    policy = RetryPolicy(initial=1, max_wait=8, jitter=0.5, max_attempts=20)
    assert next_wait(10, DOWN, policy, rand=fixed(0.999)) == 8.0
    assert next_wait(10, DOWN, policy, rand=fixed(0.0)) == 4.0


def test_the_default_policy_spans_about_seven_minutes():
    policy, waits, attempt = RetryPolicy(), [], 1
    while (w := next_wait(attempt, DOWN, policy, elapsed=sum(waits), rand=fixed(0.5))) is not None:
        waits.append(w)
        attempt += 1
    assert attempt == policy.max_attempts == 20
    assert waits[:7] == [0.5, 1, 2, 4, 8, 16, 30] and 400 < sum(waits) < policy.max_age


# -- next_wait: properties ----------------------------------------------------------------

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 30),
    initial=st.floats(0, 10),
    max_wait=st.floats(0, 120),
    max_age=st.floats(0, 3600),
    jitter=st.floats(0, 1),
    max_retry_after=st.none() | st.floats(0, 7200),
)
statuses = st.integers(400, 599)
errors = st.one_of(
    st.builds(lambda s, ra: DeliveryError("http", status=s, retry_after=ra), statuses, st.none() | st.floats(0, 1e6)),
    st.sampled_from(
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            ValueError("bad"),
            BlockedAddress("private"),
            DeliveryError("gone", permanent=True, retryable=True),
            DeliveryError("disk", retryable=True),
        ]
    ),
)
hints = st.none() | st.floats(0, 1e6)
units = st.floats(0, 1, exclude_max=True)


@settings(max_examples=400, deadline=None)
@given(policy=policies, attempt=st.integers(1, 40), error=errors, hint=hints, elapsed=st.floats(0, 4000), u=units)
def test_next_wait_properties(policy, attempt, error, hint, elapsed, u):
    wait = next_wait(attempt, error, policy, elapsed=elapsed, retry_after=hint, rand=fixed(u))
    asked = hint if hint is not None else getattr(error, "retry_after", None)
    if wait is None:
        return
    assert 0 <= wait and math.isfinite(wait)  # never negative
    assert attempt < policy.max_attempts  # gives up after max_attempts
    assert retryable_error(error) and not getattr(error, "permanent", False)  # never retries a final error
    assert not isinstance(error, (BlockedAddress, ValueError))
    assert elapsed + wait <= policy.max_age  # no attempt after max_age
    cap = policy.max_age if policy.max_retry_after is None else policy.max_retry_after
    if asked is None:
        assert wait <= policy.max_wait  # the cap ...
    else:
        assert wait <= max(policy.max_wait, min(asked, cap))  # ... unless Retry-After says so, capped
        assert wait >= min(asked, cap)  # and Retry-After is honoured


@settings(max_examples=200, deadline=None)
@given(policy=policies, attempt=st.integers(1, 40), u=units)
def test_next_wait_is_deterministic_and_the_backoff_grows(policy, attempt, u):
    a = next_wait(attempt, DOWN, policy, rand=fixed(u))
    assert a == next_wait(attempt, DOWN, policy, rand=fixed(u))
    steady = RetryPolicy(
        max_attempts=policy.max_attempts + 1,
        initial=policy.initial,
        max_wait=policy.max_wait,
        max_age=math.inf,
        jitter=0,
    )
    this, after = (next_wait(attempt, DOWN, steady, rand=no_rand), next_wait(attempt + 1, DOWN, steady, rand=no_rand))
    if this is not None and after is not None:
        assert this <= after <= policy.max_wait


# -- the dispatcher on the policy, with a simulated clock ---------------------------------

LABELS = {"app_id": "doubao"}
ALERT = Alert(
    alert_id=alert_id("download-spike", LABELS, "x"),
    rule="download-spike",
    kind="spike",
    labels=LABELS,
    event_ts="2024-11-14T00:00:00+08:00",
    summary="spike",
)


class Scripted(BaseNotifier):
    """Answers from a script (None: delivered), then None; records the simulated time of each attempt."""

    name, kind = "scripted", "test"

    def __init__(self, script, now):
        self.script, self.now, self.at = list(script), now, []

    async def notify(self, alerts):
        self.at.append(self.now[0])
        return self.script.pop(0) if self.script else None


def simulate(policy: RetryPolicy, script, u: float = 0.5):
    now, slept = [0.0], []

    async def sleep(s):
        slept.append(s)
        now[0] += s

    n = Scripted(script, now)
    outcome = asyncio.run(
        deliver(n, [ALERT], policy, DeliveryMetrics(CollectorRegistry()), sleep, clock=lambda: now[0], rand=fixed(u))
    )
    return outcome, n.at, slept


def test_dispatcher_follows_next_wait_on_the_simulated_clock():
    policy = RetryPolicy(max_attempts=6, initial=1, max_wait=4, max_age=30, jitter=0)
    outcome, at, slept = simulate(policy, [DOWN, LIMITED, DOWN, None])
    assert outcome == "sent" and slept == [1, 20, 4] and at == [0, 1, 21, 25]
    outcome, at, _ = simulate(policy, [DOWN] * 99)
    assert outcome == "gave_up" and at == [0, 1, 3, 7, 11, 15]  # 6 attempts
    outcome, at, _ = simulate(RetryPolicy(max_attempts=99, initial=1, max_wait=4, max_age=10, jitter=0), [DOWN] * 99)
    assert outcome == "gave_up" and at == [0, 1, 3, 7]  # the next would start at 11 > max_age
    assert simulate(policy, [DeliveryError("no", status=404)])[:2] == ("failed", [0])
    assert simulate(policy, [DOWN, DeliveryError("gone", status=410)])[:2] == ("gone", [0, 1])


@settings(max_examples=100, deadline=None)
@given(policy=policies, script=st.lists(errors | st.none(), max_size=40), u=units)
def test_dispatcher_properties(policy, script, u):
    outcome, at, slept = simulate(policy, script, u)
    assert 1 <= len(at) <= policy.max_attempts
    assert all(s >= 0 for s in slept) and at[-1] <= max(policy.max_age, 0.0)
    last = script[len(at) - 1] if len(at) <= len(script) else None
    if last is None:
        assert outcome == "sent"
    elif getattr(last, "permanent", False):
        assert outcome == "gone"
    else:
        assert outcome == ("gave_up" if retryable_error(last) else "failed")
    # every attempt but the last ended with a retryable error
    assert all(retryable_error(e) for e in script[: len(at) - 1])
