"""Custom pieces of the Cart.com manifest, each one something the declarative DSL cannot express.

This file is loaded as `source_declarative_manifest.components` by the manifest-only image, the
Connector Builder and the `source-declarative-manifest` runner, so it stays self-contained: no
relative imports and no `from __future__ import annotations`.
"""

import base64
import collections
import datetime
import email.utils
import functools
import hashlib
import hmac
import re
import sys
import threading
import time
import urllib.parse
from dataclasses import InitVar, dataclass
from typing import Any, Iterable, Mapping, MutableMapping, Optional, Union

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.auth.selective_authenticator import SelectiveAuthenticator
from airbyte_cdk.sources.declarative.datetime.datetime_parser import DatetimeParser
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import (
    DefaultErrorHandler,
)
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.transformations.transformation import RecordTransformation
from airbyte_cdk.sources.streams.http.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------

UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UTC = datetime.timezone.utc

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?)?$"
)


def to_utc(value: Any) -> Any:
    """Return an ISO-8601 timestamp as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC.

    Cart.com answers in the store's local time with an offset that follows daylight saving and
    with 0 to 7 fraction digits. Fractions beyond microseconds are truncated (rounding down keeps
    an inclusive lower bound inclusive). A value without an offset, or a bare date, is taken as
    UTC. Anything that is not a timestamp (None, "", garbage) is returned unchanged.

    This runs for every date of every record, so the usual shape (a whole-hour offset) is done
    on the text: one C-level pattern check, then only the date and hour change, looked up per
    distinct local hour. Everything else goes through `datetime`.
    """
    if value.__class__ is not str:
        return value
    if _match_local_whole_hour(value) is not None:
        local_hour, offset = value[:13], value[-6:]
        key = local_hour + offset
        utc_hour = _UTC_HOURS.get(key)
        if utc_hour is None:
            if len(_UTC_HOURS) >= _UTC_HOURS_KEPT:
                _UTC_HOURS.clear()
            utc_hour = _UTC_HOURS[key] = _utc_hour(local_hour, offset)
        if utc_hour:
            if len(value) == 25:  # no fraction
                return utc_hour + value[13:19] + ".000000Z"
            return f"{utc_hour}{value[13:20]}{value[20:-6]:0<6.6}Z"  # fraction: 6 digits
    elif _match_utc_form(value) is not None:
        return value  # already in this form
    return _to_utc_parsed(value)


# `YYYY-MM-DDTHH:MM:SS[.fraction]±HH:00` in ASCII digits (a plain `\d` takes any script's).
_match_local_whole_hour = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d(?:\.\d+)?[+-]\d\d:00", re.ASCII
).fullmatch
# What to_utc answers: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, in ASCII digits.
_match_utc_form = re.compile(
    r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z", re.ASCII
).fullmatch
# `YYYY-MM-DDTHH` + `±HH:00` (local) -> `YYYY-MM-DDTHH` in UTC, or "" if that is no real hour.
# Records come sorted by updated_at, so the hours in use at any moment are few.
_UTC_HOURS: "dict[str, str]" = {}
_UTC_HOURS_KEPT = 20_000


def _utc_hour(local_hour: str, offset: str) -> str:
    """The UTC `YYYY-MM-DDTHH` of a local `YYYY-MM-DDTHH` at a `±HH:00` offset; "" if the
    date or hour does not exist, the offset is a day or more, or the result leaves years 1-9999."""
    try:
        hours = int(offset[1:3])
        if hours >= 24:
            return ""
        moment = datetime.datetime(
            int(local_hour[:4]), int(local_hour[5:7]), int(local_hour[8:10]), int(local_hour[11:13])
        )
        shift = datetime.timedelta(hours=hours)
        moment = moment - shift if offset[0] == "+" else moment + shift
    except (ValueError, OverflowError):
        return ""
    return moment.isoformat()[:13]


@functools.lru_cache(maxsize=8192)
def _to_utc_parsed(value: str) -> Any:
    try:
        moment = datetime.datetime.fromisoformat(value)  # Python 3.11+ reads every form above
    except ValueError:
        return _to_utc_by_pattern(value)
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(_UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01 with an offset: nothing earlier exists
            return value
    return moment.isoformat(timespec="microseconds") + "Z"


def _to_utc_by_pattern(value: str) -> Any:
    """`to_utc` for what `fromisoformat` does not read (older Pythons, 7 fraction digits)."""
    match = _TIMESTAMP.match(value.strip())
    if not match:
        return value
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros
        )
    except ValueError:
        return value
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.strftime(UTC_FORMAT)


@dataclass
class NormalizeDates(RecordTransformation):
    """Writes every timestamp of a record in UTC, and blank dates (`""`) as null.

    Why custom: Cart.com answers in the store's local time, whose offset follows daylight saving,
    with 0 to 7 fraction digits. The CDK's cursor keeps a record's own offset and formats state
    with a literal `Z` (so `-05:00` values would be saved five hours off), Python's `strptime`
    rejects 7-digit fractions, and destinations that store timestamps without a zone (PyAirbyte's
    DuckDB, for one) would mix offsets. `""` fails the schema's `date-time` format and loads as
    no timestamp anywhere. Doing this with `AddFields` would render a Jinja template per field
    per record; this is one pass over the record's date keys (the ones named `*_at` or `*date`),
    and over nested records at any depth (a product's variants, an order's customer), with the
    parsing of repeated values cached.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    cursor_field: str = "updated_at"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        # The records of one resource mostly share their keys: which of them are dates, and which
        # may hold nested records (a list, an object, or null here), is worked out again only
        # when a record's keys differ from the previous one's.
        self._layout: Any = ((), (), ())

    def transform(
        self,
        record: MutableMapping[str, Any],
        config: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
    ) -> None:
        keys, date_keys, nesting_keys = self._layout
        if keys != tuple(record):
            keys = tuple(record)
            date_keys = tuple(k for k in keys if k.endswith(_DATE_SUFFIXES) or k == self.cursor_field)
            nesting_keys = tuple(k for k, v in record.items() if v is None or v.__class__ in _NESTING)
            self._layout = (keys, date_keys, nesting_keys)
        converted: "dict[str, Any]" = {}  # a record's dates often repeat (created = updated)
        for key in date_keys:
            value = record[key]
            if value.__class__ is str:
                if not value:
                    record[key] = None
                    continue
                utc = converted.get(value)
                if utc is None:
                    utc = converted[value] = to_utc(value)
                record[key] = utc
        for key in nesting_keys:
            value = record[key]
            if value.__class__ in _NESTING:
                _nested_dates_to_utc(value)


_DATE_SUFFIXES = ("_at", "date")
_NESTING = (dict, list)


def _nested_dates_to_utc(value: Any) -> None:
    """Dates to UTC inside a nested record, or a list of them, at any depth."""
    if value.__class__ is list:
        for item in value:
            if item.__class__ in _NESTING:
                _nested_dates_to_utc(item)
        return
    for key, item in value.items():
        if item.__class__ is str:
            if key.endswith(_DATE_SUFFIXES):
                value[key] = to_utc(item) if item else None
        elif item.__class__ in _NESTING:
            _nested_dates_to_utc(item)


@dataclass
class StateToUtc(StateMigration):
    """Accepts state written by the earlier connector and continues from it.

    The earlier connector saved the raw cursor value of the store, e.g.
    `{"updated_at": "2021-07-01T08:59:28.457-05:00"}`. Why custom: the CDK parses that offset but
    would then print the local time with a `Z`, moving the lower bound by hours (and losing records
    for stores east of UTC). The DSL has no state migration that converts time zones.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    cursor_field: str = "updated_at"

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        value = (stream_state or {}).get(self.cursor_field)
        return isinstance(value, str) and to_utc(value) != value

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        migrated = dict(stream_state)
        migrated[self.cursor_field] = to_utc(stream_state[self.cursor_field])
        return migrated


# ---------------------------------------------------------------------------------------------
# Authentication, and pacing under the store's call limit
# ---------------------------------------------------------------------------------------------


def router_signature(secret: str, method: str, path_and_query: str, user: str) -> str:
    """base64(HMAC-SHA256(secret, "METHOD&path_and_query&user")), standard alphabet."""
    message = f"{method.upper()}&{path_and_query}&{user}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class CallPacer:
    """Keeps one store's calls under its limit per 10 seconds, for every stream of a sync.

    The limit is the smaller of the user's `calls_per_10_seconds` (if set) and the limit the
    store reports in `X-AC-Call-Limit` (`used/allowed`) on every answer. Until the first answer,
    the smallest plan's 5 calls are assumed; answers without the header (a proxy's error page,
    a router that drops it) leave the top plan's 50, which Cart.com never exceeds. The window is
    half a second longer than the server's, so that network jitter cannot push one call too many
    into its ten seconds. Calls reserve their
    moment under a lock and then sleep outside it, so parallel streams share one budget.
    """

    WINDOW_SECONDS = 10.5
    FIRST_GUESS = 5
    WITHOUT_HEADER = 50
    _HISTORY = 1000  # reservations kept: more than any plan's limit

    _by_store: "dict[Any, CallPacer]" = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: "collections.deque[float]" = collections.deque(maxlen=self._HISTORY)
        self.reported_limit: Optional[int] = None
        self._answered = False
        self._first_answer = threading.Event()

    @classmethod
    def for_store(cls, key: Any) -> "CallPacer":
        with cls._registry_lock:
            pacer = cls._by_store.get(key)
            if pacer is None:
                pacer = cls._by_store[key] = cls()
            return pacer

    @classmethod
    def forget_all(cls) -> None:
        """Drop every store's history (tests run many syncs in one process)."""
        with cls._registry_lock:
            cls._by_store.clear()

    def limit(self, user_limit: Optional[int]) -> Optional[int]:
        if self.reported_limit is not None:
            known = self.reported_limit
        else:
            known = self.WITHOUT_HEADER if self._answered else self.FIRST_GUESS
        return min(known, user_limit) if user_limit else known

    def wait_for_turn(self, user_limit: Optional[int]) -> None:
        with self._lock:
            now = time.monotonic()
            limit = self.limit(user_limit)
            moment = now
            if limit is not None and len(self._reserved) >= limit:
                moment = max(now, self._reserved[-limit] + self.WINDOW_SECONDS)
            if self._reserved and self._reserved[-1] > moment:
                moment = self._reserved[-1]
            guessing = moment > now and not self._answered
            if not guessing:
                self._reserved.append(moment)
        if guessing:
            # Held back by the first guess: wait for the store's first answer, which says the
            # real limit, then take a turn under that (or under the guess, if none comes).
            self._first_answer.wait(moment - now)
            return self.wait_for_turn(user_limit)
        if moment > now:
            time.sleep(moment - now)

    def learn(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A `requests` response hook: reads `X-AC-Call-Limit` (e.g. `7/50`)."""
        allowed = _reported_limit(response.headers.get("X-AC-Call-Limit"))
        with self._lock:
            self._answered = True
            if allowed is not None:
                self.reported_limit = allowed
        self._first_answer.set()
        return response


def _reported_limit(header: Optional[str]) -> Optional[int]:
    _, slash, allowed = (header or "").partition("/")
    try:
        value = int(allowed) if slash else 0
    except ValueError:
        return None
    return value if value > 0 else None


@dataclass
class _PacedAuthenticator(DeclarativeAuthenticator):
    """What both authentication methods share: every call waits for its turn under the store's
    limit (see CallPacer) before its credentials are added.

    Why custom: the CDK's call budget has a fixed rate, and cannot read the limit the store
    reports in `X-AC-Call-Limit` (`used/allowed` is not a plain number). The authenticator is the
    one place every request of every stream passes, just before it is sent, as `requests` runs
    it last when preparing a request; credentials are read per call, not at construction,
    because the selective authenticator builds every branch whatever the config holds.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def _credentials(self) -> Mapping[str, Any]:
        return self.config.get("credentials") or {}

    def _store_key(self, request: requests.PreparedRequest) -> Any:
        return (urllib.parse.urlsplit(request.url or "").hostname, request.headers.get("X-AC-PUB-Site-ID"))

    def _add_credentials(self, request: requests.PreparedRequest) -> None:
        raise NotImplementedError

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._add_credentials(request)
        pacer = CallPacer.for_store(self._store_key(request))
        user_limit = self.config.get("calls_per_10_seconds")
        pacer.wait_for_turn(int(user_limit) if user_limit else None)
        if pacer.learn not in request.hooks["response"]:
            request.register_hook("response", pacer.learn)
        return request

    @property
    def auth_header(self) -> str:
        return ""

    @property
    def token(self) -> str:
        return ""

    def get_auth_header(self) -> Mapping[str, Any]:
        return {}


@dataclass
class StoreTokenAuthenticator(_PacedAuthenticator):
    """Sends the store's access token in `X-AC-Auth-Token`, paced (see _PacedAuthenticator)."""

    def _add_credentials(self, request: requests.PreparedRequest) -> None:
        request.headers["X-AC-Auth-Token"] = str(self._credentials().get("access_token", ""))


@dataclass
class CentralApiRouterAuthenticator(_PacedAuthenticator):
    """Signs every request sent through Cart.com's Central API Router, paced (see
    _PacedAuthenticator).

    Why custom: the signature is an HMAC over the request target exactly as it goes on the wire,
    after the paginator and the cursor have added their parameters, so it can only be computed on
    the prepared request.
    """

    def _add_credentials(self, request: requests.PreparedRequest) -> None:
        credentials = self._credentials()
        user = str(credentials.get("user_name", ""))
        request.headers["X-AC-PUB-Site-ID"] = str(credentials.get("site_id", ""))
        request.headers["X-AC-PUB-User"] = user
        request.headers["X-AC-PUB-Auth-Signature"] = router_signature(
            str(credentials.get("user_secret", "")), request.method or "GET", request.path_url, user
        )


# ---------------------------------------------------------------------------------------------
# Records and pages
# ---------------------------------------------------------------------------------------------

PAGE_INFO = "_cart_page_info"
_BODY = "_cart_body"
_NOT_JSON = object()


def json_body(response: requests.Response) -> Any:
    """The response's JSON, parsed once (orjson) and kept on the response; a sentinel if not JSON."""
    body = getattr(response, _BODY, None)
    if body is None:
        try:
            body = orjson.loads(response.content)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            body = _NOT_JSON
        setattr(response, _BODY, body)
    return body


_SUCCESS = ErrorResolution(response_action=ResponseAction.SUCCESS)


@dataclass
class ParsedOnceErrorHandler(DefaultErrorHandler):
    """The manifest's error handler, with a fast path for a healthy page.

    Why custom: every predicate filter of the DSL parses the response body again, on every
    page, healthy ones included: a 1000-record page was parsed three times (twice by the
    filters with Python's json, once by the extractor). A 2xx answer whose body is a JSON object
    is passed through after one orjson parse, which the extractor reuses; every other answer
    (errors, HTML pages, cut-off bodies, dropped connections) goes to the declared filters.
    """

    def interpret_response(self, response_or_exception: Any) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response) and 200 <= response_or_exception.status_code < 300:
            body = json_body(response_or_exception)
            if body.__class__ is dict and body:
                return _SUCCESS
        return super().interpret_response(response_or_exception)


@dataclass
class RecordsUnderKey(RecordExtractor):
    """Yields the records listed under the resource's key, failing when the key is absent.

    Why custom: `DpathExtractor` yields nothing when the key is missing, which would turn an
    unexpected answer into a silently empty stream. Cart.com's keys are irregular (`items` for
    /order_items, `variants` for /product_variants, ...); each stream names its key, and an
    answer without it stops that stream with the keys it did have, so a wrong key shows at
    once. It also notes `total_count`, `next_page` and the page as sent for the paginator.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    record_key: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._key = self.record_key or parameters.get("record_key") or parameters["resource"]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[str, Any]]:
        body = json_body(response)
        records = body.get(self._key) if isinstance(body, dict) else None
        if not isinstance(records, list):
            found = sorted(body)[:8] if isinstance(body, dict) else type(body).__name__
            raise AirbyteTracedException(
                message=(
                    f"Cart.com answered {response.url.split('?')[0]} without its '{self._key}' "
                    f"list (found: {found}). No records were taken from this page; the stream "
                    f"stops rather than skip them."
                ),
                internal_message=f"Missing record key '{self._key}' in response from {response.url}",
                failure_type=FailureType.system_error,
            )
        for record in records:
            if record.__class__ is not dict:
                raise AirbyteTracedException(
                    message=(
                        f"Cart.com answered {response.url.split('?')[0]} with an item that is not "
                        f"a record in its '{self._key}' list (a {type(record).__name__}). The "
                        f"stream stops rather than skip it or write it as an empty record."
                    ),
                    internal_message=f"Non-object item {record!r:.100} under '{self._key}' from {response.url}",
                    failure_type=FailureType.system_error,
                )
        # What the paginator needs is the page as the server sent it: the selector may drop
        # records afterwards (see InsideWindow).
        setattr(
            response,
            PAGE_INFO,
            (body.get("total_count"), bool(body.get("next_page")), len(records), records[-1] if records else None),
        )
        return records


@dataclass
class InsideWindow(RecordFilter):
    """Keeps the records updated inside the page's window, and those without `updated_at`.

    Why custom: a first sync asks its first page without an `updated_at` filter (see the
    manifest), the only way to reach records whose `updated_at` is empty; that page also lists
    records updated before start_date, or in later windows, or after the sync began. The DSL's
    filter renders a Jinja template and parses a date per record, on every page. Pages come
    sorted by `updated_at` (or, inside a run of equal timestamps, all of one instant), so the
    first and last dated records tell whether any record lies outside the window: only then are
    the records compared one by one, which in practice means on that one page.
    """

    cursor_field: str = "updated_at"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        pass  # no condition to interpolate

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: Any,
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        page = records if isinstance(records, list) else list(records)
        start, end = (stream_slice or {}).get("start_time"), (stream_slice or {}).get("end_time")
        if not page or not start or not end:
            return page
        field = self.cursor_field
        first = next((r.get(field) for r in page if r.get(field)), None)
        if first is None:
            return page  # nothing dated on this page
        last = next(r.get(field) for r in reversed(page) if r.get(field))
        if start <= to_utc(first) and to_utc(last) <= end:
            return page
        return [r for r in page if not r.get(field) or start <= to_utc(r[field]) <= end]


@dataclass
class _Walk(PaginationStrategy):
    """What both walks share: the page size from the config and no initial token."""

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    page_size: Union[int, str] = 1000
    primary_key: str = "id"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        size = self.page_size
        if isinstance(size, str):
            size = InterpolatedString.create(size, parameters=parameters).eval(self.config)
        self._size = int(size)

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def get_page_size(self) -> Optional[int]:
        return self._size


@dataclass
class UpdatedAtWalk(_Walk):
    """Walks one date window in ascending `updated_at` without ever stepping page numbers.

    Why custom: page-number paging sorted by `updated_at` skips a record whenever a record on an
    earlier page is updated during the sync (all later records shift by one). Instead, each page
    moves the window's lower bound to the last `updated_at` read and asks for page 1 again, so a
    record that moves can only move ahead of the reader. A run of equal timestamps longer than a
    page (a bulk import) is read by id instead: `updated_at` within that microsecond, `id=gt:<last
    id>`, sorted by id, which no concurrent update can shift either. The CDK's
    `pagination_reset` does the first half but fails the sync on such a run.

    The token holds the next request's filter parameters; the requester reads them, and for the
    first page of a window builds them from the window itself.
    """

    cursor_field: str = "updated_at"
    start_field: str = "start_time"
    end_field: str = "end_time"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._configured_start = to_utc(self.config.get("start_date"))

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Mapping[str, Any]],
        last_page_token_value: Optional[Any] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
    ) -> Optional[Mapping[str, Any]]:
        more, last_record = _page(response, last_page_size, last_record)
        current = last_page_token_value or {}
        window_start = (stream_slice or {}).get(self.start_field)
        window_end = (stream_slice or {}).get(self.end_field)
        # A first sync's first page carries no updated_at filter (see the manifest): it is the
        # only way to reach records whose updated_at is empty, which Cart.com sorts first.
        unfiltered = current.get("unfiltered") if current else window_start == self._configured_start
        since = current.get("since") or window_start

        if current.get("tie_until"):  # inside a run of equal timestamps, keyed by id
            if not more or last_record is None:
                # The run is read (or emptied by updates meanwhile): go on above it, never stop
                # here, as later records are still to come.
                return self._window(current["tie_until"], window_end)
            last_id = last_record.get(self.primary_key)
            if last_id is None:
                return {**current, "page": int(current.get("page", 1)) + 1}
            return self._tie(since, current["tie_until"], last_id)

        if not more or last_record is None:
            return None
        last_value = to_utc(last_record.get(self.cursor_field))
        if not isinstance(last_value, str) or not _TIMESTAMP.match(last_value):
            # No usable cursor on the page's last record: fall back to the next page number.
            if current:
                token = dict(current)
            elif unfiltered:
                token = {"unfiltered": True, "updated_at": "", "sort": self.cursor_field}
            else:
                token = self._window(since, window_end)
            token["page"] = int(current.get("page", 1)) + 1
            return token
        if unfiltered:
            return self._window(max(last_value, to_utc(window_start)), window_end)
        if since and last_value <= to_utc(since):
            # The whole page shares the lower bound: read that microsecond by id.
            return self._tie(since, _plus_one_microsecond(since), None)
        return self._window(last_value, window_end)

    @staticmethod
    def _window(since: str, end: Optional[str]) -> MutableMapping[str, Any]:
        since = to_utc(since)
        bounds = f"gte:{since} AND lte:{end}" if end else f"gte:{since}"
        return {"since": since, "updated_at": bounds, "sort": "updated_at", "page": 1}

    @staticmethod
    def _tie(since: str, until: str, after_id: Any) -> MutableMapping[str, Any]:
        since = to_utc(since)
        token: MutableMapping[str, Any] = {
            "since": since,
            "tie_until": until,
            "updated_at": f"gte:{since} AND lt:{until}",
            "sort": "id",
            "page": 1,
        }
        if after_id is not None:
            token["id"] = f"gt:{after_id}"
        return token


@dataclass
class IdWalk(_Walk):
    """Walks a resource without `updated_at` in ascending id: `id=gt:<last id>`, sorted by id.

    Why custom: the CDK's page-number and offset strategies shift when a record is deleted
    during the sync, and its cursor strategy follows `next_page` links that keep the page number.
    An id never changes, so reading above the last id seen can neither skip nor repeat a record.
    """

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Mapping[str, Any]],
        last_page_token_value: Optional[Any] = None,
    ) -> Optional[Mapping[str, Any]]:
        more, last_record = _page(response, last_page_size, last_record)
        if not more or last_record is None:
            return None
        last_id = last_record.get(self.primary_key)
        if last_id is None:  # no id to continue from: fall back to the next page number
            current = last_page_token_value or {}
            return {**current, "page": int(current.get("page", 1)) + 1}
        return {"id": f"gt:{last_id}", "page": 1}


def _page(response: requests.Response, last_page_size: int, last_record: Any) -> Any:
    """(more pages?, the page's last record) as the server sent the page.

    More records match the request when the answer links a `next_page` or its `total_count`
    exceeds this page. The extractor noted the page before any record was filtered out.
    """
    total_count, has_next_link, size, last = getattr(
        response, PAGE_INFO, (None, False, last_page_size, last_record)
    )
    more = bool(size) and (has_next_link or (isinstance(total_count, int) and total_count > size))
    return more, last


def _plus_one_microsecond(value: str) -> str:
    moment = datetime.datetime.strptime(to_utc(value), UTC_FORMAT)
    return (moment + datetime.timedelta(microseconds=1)).strftime(UTC_FORMAT)


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


@dataclass
class RetryAfter(BackoffStrategy):
    """Waits as long as a 429's `Retry-After` says, given as seconds or as an HTTP date.

    Why custom: `WaitTimeFromHeader` reads numbers only, so Cart.com's documented form, an HTTP
    date, would fall back to a guess. A date is compared with an aware UTC clock. Other errors
    return None so the next strategy (exponential backoff) decides.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    header: str = "Retry-After"
    max_wait_seconds: float = 600.0

    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int = 0,
    ) -> Optional[float]:
        if not isinstance(response_or_exception, requests.Response):
            return None
        if response_or_exception.status_code != 429:
            return None
        wait = retry_after_seconds(response_or_exception.headers.get(self.header), self.max_wait_seconds)
        if wait is None:
            return None
        # The CDK sleeps one second more than a user-defined backoff asks for; ask one less so
        # the total is what the server said (a zero would be ignored, hence the floor).
        return max(wait - CDK_EXTRA_SLEEP_SECONDS, 0.001)


CDK_EXTRA_SLEEP_SECONDS = 1.0


def retry_after_seconds(value: Optional[str], ceiling: float = 600.0) -> Optional[float]:
    """Seconds to wait for a `Retry-After` value (delta-seconds or HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    # A reset time already passed (clock skew) still gets a one-second pause, never a hammering.
    return min(max(seconds, 1.0), ceiling)


# ---------------------------------------------------------------------------------------------
# Fast paths for airbyte-cdk 7's own per-record and per-stream work
# ---------------------------------------------------------------------------------------------


def _state_text_as_utc(text: str) -> datetime.datetime:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` (shape already checked) as an aware UTC datetime; raises
    ValueError for an impossible date or time, as strptime does."""
    return datetime.datetime(
        int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
        int(text[17:19]), int(text[20:26]), tzinfo=_UTC,
    )


def _fast_path_for(owner: Any, name: str) -> Any:
    """Decorator: puts `make(original)` in place of the CDK's `owner.name`, once.

    What follows gives the CDK fast paths for per-record work that the manifest cannot reach
    (the CDK builds these parts itself). Each gives the CDK's own result, and anything outside
    the case it knows goes to the CDK's code. This module may be loaded twice, as
    `source_cart.components` and under the manifest runner's module name: a second load must not
    wrap the first one's fast path again. The CDK's function stays at `_cart_original`, which
    the tests compare against.
    """

    def install(make: Any) -> Any:
        original = getattr(owner, name)
        if not getattr(original, "_cart_fast_path", False):
            fast = make(original)
            fast._cart_fast_path = True
            fast._cart_original = original
            setattr(owner, name, staticmethod(fast) if name == "__new__" else fast)
        return make

    return install


@_fast_path_for(StreamSlice, "__hash__")
def _slice_hashed_once(slice_hash: Any) -> Any:
    """A slice's hash, computed once.

    Why: for every record, the CDK's ConcurrentCursor.observe looks the record's slice up twice
    in a dict, and `StreamSlice.__hash__` serializes the slice to JSON and SHA-256s it on each
    lookup. With the `strptime` below, that was about a third of this connector's CPU time
    (py-spy, see bench/). Slices are immutable (`__setitem__` raises), so the hash is kept.
    """

    def hash_once(self: Any) -> int:
        cached = self.__dict__.get("_cart_hash")
        if cached is None:
            cached = self.__dict__["_cart_hash"] = slice_hash(self)
        return cached

    return hash_once


@_fast_path_for(DatetimeParser, "parse")
def _state_format_read_fast(parse: Any) -> Any:
    """The cursor's reading of a value in this connector's state format, without `strptime`.

    Why: the CDK's cursor parses every record's cursor value with `strptime`. A value in the
    state format (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, as NormalizeDates writes every `updated_at`)
    is read with `datetime.fromisoformat` (from its digits on Python 3.10), which gives the
    same aware UTC datetime as `strptime` plus `replace(tzinfo=utc)`. Anything else takes the
    CDK's own code. unit_tests/test_timestamps.py holds both to the CDK's results.
    """
    # Python 3.11's fromisoformat reads the trailing Z as UTC; 3.10's does not.
    from_iso = datetime.datetime.fromisoformat if sys.version_info >= (3, 11) else _state_text_as_utc

    def parse_utc_format_fast(self: Any, date: Any, format: str) -> datetime.datetime:
        if format == UTC_FORMAT and date.__class__ is str and _match_utc_form(date):
            return from_iso(date)  # raises ValueError for an impossible date, as strptime does
        return parse(self, date, format)

    return parse_utc_format_fast


@_fast_path_for(RecordSelector, "_normalize_by_schema")
def _no_copy_for_no_normalization(normalize: Any) -> Any:
    """Lets records through the CDK's schema normalization step untouched when it does nothing.

    Why: the CDK's record selector copies every record into a new dict before handing it to
    its schema normalization, even when that normalization is `None` (the CDK's default, and
    this manifest's), whose `transform` returns at once. The copy, the call and one more
    generator layer cost about 1.5 us a record. Any other normalization takes the CDK's own
    code; unit_tests/test_timestamps.py checks both cases. (The copy would also have turned a
    page item that is no object, such as `""`, into an empty record; RecordsUnderKey stops the
    stream on such an item before it gets here.)
    """
    does_nothing = TransformConfig.NoTransform
    plain_transform = TypeTransformer.transform

    def normalize_unless_nothing_to_do(self: Any, records: Any, schema: Any) -> Any:
        normalization = self.schema_normalization
        if (
            getattr(normalization, "_config", None) is does_nothing
            and type(normalization).transform is plain_transform
        ):
            return records
        return normalize(self, records, schema)

    return normalize_unless_nothing_to_do


@_fast_path_for(SelectiveAuthenticator, "__new__")
def _direct_authenticator_selection(select: Any) -> Any:
    """Lets SelectiveAuthenticator read its config path key by key instead of searching the config.

    Why: the CDK's SelectiveAuthenticator finds `credentials.auth_type` with `dpath.get`, which
    walks every value of the config to match the path as a glob, and the CDK builds one
    authenticator per stream. In the manifest-only image the config also carries the whole
    manifest (`__injected_declarative_manifest`): for fifty streams those walks took 0.85 s of
    CPU on every start, more than the rest of building the source. A path of plain keys leads
    to one value, the one `dpath.get` finds, so it is read directly; a key with glob
    characters, a missing key, a list on the way or an unknown choice takes the CDK's own code,
    and so its errors. unit_tests/test_consumers.py compares the two.
    """

    def select_by_keys(
        cls: Any, config: Any, authenticators: Any, authenticator_selection_path: Any, *args: Any, **kwargs: Any
    ) -> Any:
        value = _at_plain_path(config, authenticator_selection_path)
        chosen = None if value is _NOT_PLAIN else authenticators.get(str(value))
        if chosen is not None:
            return chosen
        return select(cls, config, authenticators, authenticator_selection_path, *args, **kwargs)

    return select_by_keys


_NOT_PLAIN = object()


def _at_plain_path(config: Any, path: Any) -> Any:
    """The value at `path` if it is a list of plain keys, all present; else `_NOT_PLAIN`."""
    if not isinstance(path, (list, tuple)):
        return _NOT_PLAIN
    value = config
    for key in path:
        if key.__class__ is not str or not key or any(glob in key for glob in "*?[]/"):
            return _NOT_PLAIN
        if not isinstance(value, Mapping) or key not in value:
            return _NOT_PLAIN
        value = value[key]
    return value
