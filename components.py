"""The custom pieces of the Cart.com manifest: only what the declarative DSL cannot express.

Everything else in the manifest is a stock airbyte-cdk component. This file is loaded as
`source_declarative_manifest.components` by the manifest-only image, the Connector Builder and
the `source-declarative-manifest` runner, and as `components` by `source-cart` (run.py), so it
is self-contained: no relative imports, no `from __future__ import annotations`, and it changes
nothing outside its own classes (the Builder loads it into a server other manifests share).
"""

import base64
import collections
import datetime
import email.utils
import hashlib
import hmac
import ipaddress
import logging
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import InitVar, dataclass
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional, Union

import orjson
import requests

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    FailureType,
    StreamDescriptor,
    Type,
)
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import (
    DefaultErrorHandler,
)
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import ConfigTransformation
from airbyte_cdk.sources.declarative.transformations.transformation import RecordTransformation
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.sources.streams.http.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# ---------------------------------------------------------------------------------------------
# Timestamps: Cart.com answers in the store's local time, with an offset that follows daylight
# saving and 0 to 7 fraction digits. Records and state carry UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
# ---------------------------------------------------------------------------------------------

UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UTC = datetime.timezone.utc
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|z|[+-]\d\d:?\d\d)?)?", re.ASCII
)
_IS_UTC_FORM = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z", re.ASCII
).fullmatch


def to_utc(value: Any) -> Any:
    """An ISO-8601 timestamp as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC; anything else unchanged.

    Fractions beyond microseconds are cut (rounding down keeps an inclusive bound inclusive). A
    value without an offset, or a bare date, is taken as UTC. This runs for every date of every
    record, so the usual shape (a whole-hour offset) only has its date and hour looked up, per
    distinct local hour; everything else is parsed.
    """
    if value.__class__ is not str:
        return value
    if _IS_LOCAL_WHOLE_HOUR(value):
        key = value[:13] + value[-6:]
        utc_hour = _UTC_HOURS.get(key)
        if utc_hour is None:
            if len(_UTC_HOURS) > 50_000:
                _UTC_HOURS.clear()
            converted = _parse_to_utc(value[:13] + ":00:00" + value[-6:])
            utc_hour = _UTC_HOURS[key] = converted[:13] if _IS_UTC_FORM(converted) else ""
        if not utc_hour:
            return value  # no such date, or outside years 1-9999
        fraction = value[20:-6] if value[19] == "." else ""
        return f"{utc_hour}{value[13:19]}.{fraction[:6]:0<6}Z"
    if _IS_UTC_FORM(value):
        return value
    return _parse_to_utc(value)


# `YYYY-MM-DDTHH:MM:SS[.fraction]±HH:00`, ASCII digits, hour 00-23 (a plain `\d` takes any script's).
_IS_LOCAL_WHOLE_HOUR = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?[+-](?:0\d|1[0-4]):00",
    re.ASCII,
).fullmatch
# Local `YYYY-MM-DDTHH` + offset -> UTC `YYYY-MM-DDTHH`. Records come sorted by updated_at, so the
# hours in use at any moment are few.
_UTC_HOURS: "dict[str, str]" = {}


def _parse_to_utc(value: str) -> Any:
    match = _TIMESTAMP.fullmatch(value.strip())
    if not match:
        return value
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
        if offset and offset not in ("Z", "z"):
            digits = offset[1:].replace(":", "")
            shift = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            moment = moment - shift if offset[0] == "+" else moment + shift
    except (ValueError, OverflowError):
        return value  # no such date (or hour): left for the schema and the cursor to reject
    return moment.isoformat(timespec="microseconds") + "Z"


def _utc_now(minutes: int = 0) -> str:
    moment = datetime.datetime.now(_UTC) + datetime.timedelta(minutes=minutes)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def is_timestamp(value: Any) -> bool:
    """True for a timestamp `to_utc` reads, whose date exists (`2021-02-30` does not)."""
    if value.__class__ is str and _IS_UTC_FORM(value) and value[:10] in _REAL_DAYS:
        return True  # the usual case once dates are normalised: asked once per day
    utc = to_utc(value)
    if not isinstance(utc, str) or not _IS_UTC_FORM(utc):
        return False
    try:
        datetime.date(int(utc[:4]), int(utc[5:7]), int(utc[8:10]))
    except ValueError:
        return False
    if len(_REAL_DAYS) > 100_000:
        _REAL_DAYS.clear()
    _REAL_DAYS.add(utc[:10])
    return True


# Days that `datetime.date` has accepted: a UTC-form value on one of them is a timestamp without
# asking again (InsideWindow asks for every record).
_REAL_DAYS: "set[str]" = set()


@dataclass
class NormalizeDates(RecordTransformation):
    """Writes every timestamp of a record (keys `*_at` and `*date`, nested records included) in
    UTC, and blank dates (`""`) as null.

    Why custom: the CDK's cursor keeps a record's own offset and writes state with a literal `Z`
    (a `-05:00` value would be saved five hours off), and destinations without zoned timestamps
    would mix offsets. The DSL has no time-zone conversion; `AddFields` would also need a
    template per field per record, while dates here are found by name at any depth.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        # The records of one stream share their keys: which of them are dates is worked out
        # again only when a record's keys differ from the previous one's.
        self._layout: Any = ((), ())

    def transform(
        self,
        record: MutableMapping[str, Any],
        config: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
    ) -> None:
        keys, date_keys = self._layout
        if keys != tuple(record):
            keys = tuple(record)
            date_keys = tuple(k for k in keys if k.endswith(_DATE_SUFFIXES))
            self._layout = (keys, date_keys)  # one assignment: the stream's threads share it
        for key in date_keys:
            value = record[key]
            if value.__class__ is str:
                record[key] = to_utc(value) if value else None
        # Most records are flat: one pass in C over the value types says so, instead of a
        # Python-level look at each of some fifty values.
        if not _NESTING.isdisjoint(map(type, record.values())):
            for value in record.values():
                if value.__class__ in _NESTING:
                    _dates_to_utc(value)


_DATE_SUFFIXES = ("_at", "date")
_NESTING = frozenset((dict, list))


def _dates_to_utc(value: Any) -> None:
    """Dates to UTC inside a nested record, or a list of them, at any depth."""
    if value.__class__ is list:
        for item in value:
            if item.__class__ in _NESTING:
                _dates_to_utc(item)
        return
    for key, item in value.items():
        if item.__class__ is str:
            if key.endswith(_DATE_SUFFIXES):
                value[key] = to_utc(item) if item else None
        elif item.__class__ in _NESTING:
            _dates_to_utc(item)


@dataclass
class StateToUtc(StateMigration):
    """Continues from state the earlier connector wrote, in the store's local time
    (`{"updated_at": "2021-07-01T08:59:28.457-05:00"}`), by moving it to UTC.

    Why custom: the CDK would read that offset and write the local time back with a `Z`, moving
    the lower bound by hours; the DSL has no migration that converts time zones.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    cursor_field: str = "updated_at"
    declarative_stream: Any = None  # the stream's model, which the CDK passes to state migrations

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = getattr(self.declarative_stream, "name", None) or parameters.get("name", "")
        _progress(self.config, self._stream, new_sync=True)

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        if not isinstance(stream_state, Mapping):
            return False
        if is_timestamp(stream_state.get(self.cursor_field)):
            _progress(self.config, self._stream).state_value = to_utc(stream_state[self.cursor_field])
        if AFTER_ID in stream_state:
            return True
        if self.cursor_field not in stream_state:
            # The CDK's concurrent form, the platform's own markers, or no state: read as they are.
            # Anything else is no state this connector or the earlier one wrote.
            return not all(key == "slices" or key == "state_type" or str(key).startswith("__ab_") for key in stream_state) and "slices" not in stream_state
        value = stream_state[self.cursor_field]
        return not is_timestamp(value) or to_utc(value) != value or to_utc(value) > _utc_now()

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.cursor_field not in stream_state:
            raise config_error(
                f"The saved state holds {sorted(map(str, stream_state))} but no {self.cursor_field}, so "
                f"it is no state of this connector. Reset the stream, or set the state to a UTC time "
                f'such as {{"{self.cursor_field}": "2021-01-01T00:00:00.000000Z"}}.'
            )
        value = stream_state[self.cursor_field]
        if not is_timestamp(value):
            raise config_error(
                f"The saved state holds {self.cursor_field} {value!r}, which is no timestamp. Reset "
                f"the stream, or set the state to a UTC time such as "
                f'{{"{self.cursor_field}": "2021-01-01T00:00:00.000000Z"}}.'
            )
        now = _utc_now()
        if to_utc(value) > _utc_now(minutes=10):
            # Never saved by this connector (its reads end at the sync's start): the CDK would
            # read nothing and save an empty state, so the next sync would quietly start over.
            raise config_error(
                f"The saved state holds {self.cursor_field} {value!r}, which is in the future. Reset "
                f"the stream, or set the state to the time of the last sync you trust, such as "
                f'{{"{self.cursor_field}": "2021-01-01T00:00:00.000000Z"}}.'
            )
        # A few minutes ahead is a clock skew: reading from now reads more, never less.
        migrated = {**stream_state, self.cursor_field: min(to_utc(value), now)}
        after_id = migrated.pop(AFTER_ID, None)
        if after_id is not None:
            # Saved inside a run of equal timestamps: the CDK keeps only updated_at, and this
            # stream's first window goes on by id from there (see PageCheckpoints).
            if not isinstance(after_id, int) or isinstance(after_id, bool):
                raise config_error(
                    f"The saved state holds {AFTER_ID} {after_id!r}, which is no record id. Reset the "
                    f"stream, or remove {AFTER_ID} from the state (the read then starts at updated_at)."
                )
            _progress(self.config, self._stream).tie = (migrated[self.cursor_field], after_id)
        return migrated


# ---------------------------------------------------------------------------------------------
# Config checks, run by the manifest's `config_normalization_rules` in every runtime
# ---------------------------------------------------------------------------------------------

# A host name (or address) with an optional port: what `store_name` must be once a pasted
# scheme, path and surrounding spaces are gone. The spec's pattern says the same.
_BARE_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::\d{1,5})?", re.ASCII | re.IGNORECASE).fullmatch
_PASTED_URL = re.compile(r"(?:https?://)?([^/?#@\s\\]+)(?:/[^?#@\s\\]*)?", re.ASCII | re.IGNORECASE).fullmatch
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp")


def _not_public(host: str) -> Optional[str]:
    """Why `host` (no port) is no public Internet name, or None."""
    try:
        address: Any = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return None if address.is_global else "a loopback, link-local or private address"
    if "." not in host or host.endswith(_PRIVATE_SUFFIXES):
        return "not a public domain name"
    return None


def store_host_problem(store_name: Any, allow_private: Any = False) -> Optional[str]:
    """Why the connector may not send credentials to `store_name`, or None."""
    name = store_name if isinstance(store_name, str) else ""
    if not _BARE_HOST(name):
        return "not a bare host name (letters, digits, dots and dashes, then an optional :port)"
    return None if allow_private is True else _not_public(name.rsplit(":", 1)[0] if ":" in name else name)


@dataclass
class StoreNameAsHost(ConfigTransformation):
    """A config migration: reduces a pasted store URL (`https://MyStore.com/admin/ `) to its
    host (`mystore.com`); the platform saves the result. A value that still is no bare host is
    left for the spec's pattern and ConfigField to refuse.

    Why custom: the stock config transformations set or move values; none can cut a URL to its
    host. Keeping the saved value a bare host lets the spec's pattern and metadata.yaml's
    `allowedHosts` hold the very host every request goes to.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def transform(self, config: MutableMapping[str, Any]) -> None:
        credentials = config.get("credentials")
        name = credentials.get("store_name") if isinstance(credentials, Mapping) else None
        pasted = _PASTED_URL(name.strip()) if isinstance(name, str) else None
        if pasted and pasted.group(1).lower() != name:
            config["credentials"] = {**credentials, "store_name": pasted.group(1).lower()}


def config_error(message: str) -> AirbyteTracedException:
    return traced(message, FailureType.config_error)


def traced(message: str, failure_type: FailureType = FailureType.system_error) -> AirbyteTracedException:
    """An error the user reads. The CDK's end-of-sync summary quotes the internal message, so it
    is the same words."""
    return AirbyteTracedException(message=message, internal_message=message, failure_type=failure_type)


@dataclass
class ConfigField(ValidationStrategy):
    """Checks the config beyond what the spec's JSON schema can say, naming the field and what to
    write instead. `kind: credentials` (the credentials object): each credential must be
    something an HTTP header can carry once stripped of surrounding whitespace (it is never
    echoed), and `store_name` a public domain. `kind: dates` ([start_date, end_date]): a date must
    exist (`2021-13-45` has the right form), start_date must be past and end_date after it.

    Why custom: `ValidateAdheresToSchema` reports a mismatch as a ValueError, which reaches the
    user as "Something went wrong"; this raises a config_error that says how to fix the value.
    A credential is also added to the values every output masks, before anything can fail:
    the Connector Builder reports a config error before it masks the config's secrets.
    """

    kind: str = "dates"

    def validate(self, value: Any) -> None:
        if self.kind == "credentials":
            if isinstance(value, Mapping):  # anything else is refused by the spec's schema
                self._check_credentials(value)
            return
        start, end = (list(value) + [None, None])[:2] if isinstance(value, (list, tuple)) else (None, None)
        for field, date in (("start_date", start), ("end_date", end)):
            if date not in (None, "") and not is_timestamp(date):
                raise config_error(
                    f"{field} '{date}' is not a real date. Use UTC in the form "
                    f"YYYY-MM-DDTHH:MM:SSZ (for example 2021-01-01T00:00:00Z) or YYYY-MM-DD."
                )
        if is_timestamp(start) and to_utc(start) > _utc_now():
            raise config_error(f"start_date '{start}' is in the future: set it to a past date, when the data you want begins.")
        if is_timestamp(start) and is_timestamp(end) and to_utc(end) < to_utc(start):
            raise config_error(
                f"end_date '{end}' is before start_date '{start}': set end_date later than "
                f"start_date, or leave it empty to read up to the time each sync starts."
            )

    @staticmethod
    def _check_credentials(credentials: Mapping[str, Any]) -> None:
        secrets = [(field, credentials.get(field)) for field in ("access_token", "user_name", "user_secret", "site_id")]
        for _, secret in secrets:  # every form of every one masked before any can fail
            if isinstance(secret, str) and secret:
                for form in {secret, secret.strip(), repr(secret)[1:-1], repr(secret.strip())[1:-1]}:
                    add_to_secrets(form)
        for field, secret in secrets:
            if isinstance(secret, str) and secret and not _HEADER_SAFE(secret.strip()):
                raise config_error(
                    f"{field} holds a line break or another character that cannot "
                    f"be sent in an HTTP header: paste it again as a single line."
                )
        if credentials.get("auth_type") != "CENTRAL_API_ROUTER":
            name = credentials.get("store_name")
            problem = store_host_problem(name, credentials.get("allow_private_hosts"))
            if problem:
                raise config_error(
                    f"store_name '{name}' is {problem}. Write your store's domain only, for "
                    f"example mystore.com or mystore.americommerce.com (allow_private_hosts "
                    f"permits a local test server)."
                )


_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?").fullmatch


# ---------------------------------------------------------------------------------------------
# Authentication and pacing
# ---------------------------------------------------------------------------------------------


def router_signature(secret: str, method: str, path_and_query: str, user: str) -> str:
    """base64(HMAC-SHA256(secret, "METHOD&path_and_query&user")), standard alphabet."""
    message = f"{method.upper()}&{path_and_query}&{user}".encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


class _SignsThePreparedRequest(DeclarativeAuthenticator):
    """An authenticator that works on the prepared request (`__call__`), not through a header
    the CDK adds: the header-token properties are empty."""

    @property
    def auth_header(self) -> str:
        return ""

    @property
    def token(self) -> str:
        return ""

    def get_auth_header(self) -> Mapping[str, Any]:
        return {}


@dataclass
class RouterSignature(_SignsThePreparedRequest):
    """Signs each request for Cart.com's Central API Router.

    Why custom: the signature is an HMAC over the request target exactly as it goes on the wire,
    after the paginator and the cursor have added their parameters, so it can only be computed
    on the prepared request, and again for every request.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self.config.get("credentials") or {}
        user = str(credentials.get("user_name", "")).strip()
        request.headers["X-AC-PUB-Site-ID"] = str(credentials.get("site_id", "")).strip()
        request.headers["X-AC-PUB-User"] = user
        signature = router_signature(
            str(credentials.get("user_secret", "")).strip(), request.method or "GET", request.path_url, user
        )
        request.headers["X-AC-PUB-Auth-Signature"] = signature
        if _LOGGER.isEnabledFor(logging.DEBUG):
            # --debug logs each request's headers; a signature has no timestamp, so a logged one
            # would let anyone replay its URL. Only then is it masked (each one costs every later
            # log line a lookup).
            add_to_secrets(signature)
        return request



class CallPacer:
    """Keeps one store's calls under its limit per 10 seconds, for every stream of a sync.

    The limit is the smaller of `calls_per_10_seconds` (if set) and the one the store reports in
    `X-AC-Call-Limit` (`used/allowed`) on every answer. Until the first answer the smallest
    plan's 5 is assumed; answers without the header leave the top plan's 50. The window is half
    a second longer than the server's, so network jitter cannot push a call into the previous
    ten seconds. A call reserves its moment under a lock and sleeps outside it, so parallel
    streams share one budget.
    """

    WINDOW_SECONDS = 10.5
    FIRST_GUESS = 5
    WITHOUT_HEADER = 50

    _by_store: "dict[Any, CallPacer]" = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: "collections.deque[float]" = collections.deque(maxlen=1000)
        self.reported_limit: Optional[int] = None
        self._answered = threading.Event()

    @classmethod
    def for_store(cls, key: Any) -> "CallPacer":
        with cls._registry_lock:
            return cls._by_store.setdefault(key, cls())

    @classmethod
    def forget_all(cls) -> None:
        """Drop every store's history (tests run many syncs in one process)."""
        with cls._registry_lock:
            cls._by_store.clear()

    def limit(self, user_limit: Optional[int]) -> int:
        known = self.reported_limit or (self.WITHOUT_HEADER if self._answered.is_set() else self.FIRST_GUESS)
        return min(known, user_limit) if user_limit else known

    def wait_for_turn(self, user_limit: Optional[int]) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                limit = self.limit(user_limit)
                moment = now
                if len(self._reserved) >= limit:
                    moment = max(now, self._reserved[-limit] + self.WINDOW_SECONDS)
                if self._reserved and self._reserved[-1] > moment:
                    moment = self._reserved[-1]
                guessing = moment > now and not self._answered.is_set()
                if not guessing:
                    self._reserved.append(moment)
            if not guessing:
                break
            # Held back only by the first guess: the store's first answer tells the real limit.
            self._answered.wait(moment - now)
            if not self._answered.is_set():
                with self._lock:
                    self._reserved.append(time.monotonic())
                return
        if moment > now:
            time.sleep(moment - now)

    def learn(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A `requests` response hook: reads `X-AC-Call-Limit` (e.g. `7/50`)."""
        _, slash, allowed = (response.headers.get("X-AC-Call-Limit") or "").partition("/")
        if slash and allowed.strip().isdigit() and int(allowed) > 0:
            self.reported_limit = int(allowed)
        self._answered.set()
        return response


ROUTER_HOST = "public.americommerce.com"
_RESOLVED: "dict[str, Optional[str]]" = {}


def _resolves_to_private_address(host: str, url: str) -> Optional[str]:
    """Why `host` may not be called (it resolves to a loopback, link-local or private address),
    or None. Not asked when a proxy will resolve the name, nor when the name does not resolve
    (the request then fails on its own)."""
    if host not in _RESOLVED:
        verdict = None
        if not requests.utils.get_environ_proxies(url):
            try:
                addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)}
            except (OSError, UnicodeError):
                addresses = set()
            for address in addresses:
                if not ipaddress.ip_address(address.split("%")[0]).is_global:
                    verdict = f"a name for {address}, a loopback, link-local or private address"
        _RESOLVED[host] = verdict
    return _RESOLVED[host]


def refuse_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A `requests` response hook that stops a redirect before it is followed.

    `requests` follows redirects and strips only `Authorization` when the host changes, so the
    store token (`X-AC-Auth-Token`) and the router's headers would go wherever a store, or
    whoever answers for it, points. Cart.com's API does not redirect: any redirect is refused.
    """
    if response.is_redirect:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(response.url, response.headers.get("Location", "")))
        source = urllib.parse.urlsplit(response.url)
        raise config_error(
            f"{source.hostname} answered {response.status_code} with a redirect to "
            f"{target.scheme}://{target.hostname}{target.path}. The connector never follows a "
            f"redirect, so your credentials were not sent there. Check store_name: it must be "
            f"the store's own domain (for example mystore.com), the one its API answers on."
        )
    return response


def answer_within(seconds: float) -> Any:
    """A `requests` response hook: the rest of the answer (its body) must arrive within
    `seconds` of the request going out, else the connection is shut and the request fails with
    a ReadTimeout, which the error handler retries like a dropped connection.

    The requester's read timeout bounds only the silence between two bytes: a server sending a
    byte a second would hold a sync forever. Hooks run before `requests` reads the body, so the
    body is read here, under a timer that shuts the socket down if it fires.
    """

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        remaining = seconds - response.elapsed.total_seconds()
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        fired = threading.Event()

        def shut() -> None:
            fired.set()
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError, ValueError):
                pass

        timer = threading.Timer(max(remaining, 0.001), shut)
        timer.daemon = True
        if sock is not None:
            timer.start()
        try:
            response.content
        except Exception:
            if not fired.is_set():
                raise
        finally:
            timer.cancel()
        if fired.is_set():
            raise requests.exceptions.ReadTimeout(
                f"Cart.com did not send the whole answer for {response.url.split('?')[0]} within "
                f"{seconds:g} s (request_timeout_seconds); it is retried.",
                request=response.request,
            )
        return response

    return hook


@dataclass
class PacedAuthenticator(_SignsThePreparedRequest):
    """Adds the credentials the config chooses (a stock `ApiKeyAuthenticator` for a store's
    token, RouterSignature for the Central API Router), then makes the request wait for its turn
    under the store's call limit.

    Why custom: the CDK's `api_budget` has fixed rates and reads only integer headers, so it
    cannot follow the limit each store reports in `X-AC-Call-Limit` (`used/allowed`, 5 to 50
    per 10 s by plan). The authenticator is the one hook that runs for every attempt of every
    request, retries included, just before it is sent. It chooses between the two methods
    itself, by `credentials.auth_type`: the stock SelectiveAuthenticator finds that value with
    `dpath.get`, which walks the whole config once per stream, and in the manifest-only image
    and the Builder the config holds the whole manifest (about 2 s of CPU on every start).
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    store_token: Optional[DeclarativeAuthenticator] = None
    router: Optional[DeclarativeAuthenticator] = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._answer_deadline = answer_within(_whole_seconds(self.config.get("request_timeout_seconds"), 120))
        self._safe_origins: "set[str]" = set()

    def _check_destination(self, url: str) -> None:
        """Credentials go over HTTPS to the configured store (or the router) and nowhere else,
        whatever the templates built: checked on the request itself, in every runtime."""
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self._safe_origins:
            return
        credentials = self.config.get("credentials")
        credentials = credentials if isinstance(credentials, Mapping) else {}
        router = credentials.get("auth_type") == "CENTRAL_API_ROUTER"
        host = ROUTER_HOST if router else str(credentials.get("store_name") or "").strip().lower()
        allow_private = credentials.get("allow_private_hosts")
        problem = store_host_problem(host, allow_private)
        if not problem and origin != f"https://{host}":
            problem = f"not where this request would go ({origin})"
        if not problem and allow_private is not True:
            problem = _resolves_to_private_address(parts.hostname or "", url)
        if problem:
            raise config_error(
                f"store_name '{host}' is {problem}: no credentials were sent to {parts.netloc or url}. "
                f"Write your store's domain only, for example mystore.com."
            )
        self._safe_origins.add(origin)

    def _chosen(self) -> Optional[DeclarativeAuthenticator]:
        credentials = self.config.get("credentials")
        auth_type = credentials.get("auth_type") if isinstance(credentials, Mapping) else None
        return self.router if auth_type == "CENTRAL_API_ROUTER" else self.store_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._check_destination(request.url or "")
        chosen = self._chosen()
        if chosen is not None:
            request = chosen(request)
        store = (urllib.parse.urlsplit(request.url or "").hostname, request.headers.get("X-AC-PUB-Site-ID"))
        pacer = CallPacer.for_store(store)
        user_limit = self.config.get("calls_per_10_seconds")
        pacer.wait_for_turn(int(user_limit) if user_limit else None)
        for hook in (pacer.learn, refuse_redirect, self._answer_deadline):
            if hook not in request.hooks["response"]:
                request.register_hook("response", hook)
        return request

    def get_auth_header(self) -> Mapping[str, Any]:
        chosen = self._chosen()
        return chosen.get_auth_header() if chosen is not None else {}


# ---------------------------------------------------------------------------------------------
# Pages: parsed once. Speed-ups of stock components, declared in the manifest: each gives the
# stock component's result and exists only because the stock one costs several times the CPU
# per record (measured with py-spy, see the README's Performance section).
# ---------------------------------------------------------------------------------------------

_BODY = "_source_cart_body"  # the parsed page, kept on its own requests.Response
_NOT_JSON = object()


def page_body(response: requests.Response) -> Any:
    """The response's JSON, parsed once (orjson) and kept on the response; `_NOT_JSON` if none."""
    body = getattr(response, _BODY, None)
    if body is None:
        try:
            body = orjson.loads(response.content)
        except (orjson.JSONDecodeError, TypeError, ValueError):
            body = _NOT_JSON
        setattr(response, _BODY, body)
    return body


@dataclass
class ParsedOnceErrorHandler(DefaultErrorHandler):
    """The stock DefaultErrorHandler, with a shortcut for a healthy page, a time limit taken from
    the config, an end to retrying when the whole store is down, and skip warnings at WARN.

    Why custom: every predicate filter of the stock handler parses the body again with Python's
    json, on every page (a tenth of the CPU of a sync); a 2xx answer whose body holds the
    stream's record list matches none of the manifest's filters, so it is a success after one
    orjson parse, which the extractor reuses. The stock `max_time` is a fixed 600 s the manifest
    cannot set; here it is `max_retry_seconds`. The stock handler judges each request alone, so
    a store that is down costs every stream its full retry time one after the other (hours for
    50 streams): once nothing from the store has succeeded for 1.5 times that limit, a failing
    request fails at once. And the CDK logs a skipped stream at INFO; a user must see it.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._record_key = parameters.get("record_key")
        self._scope = parameters.get("scope", "")
        self.max_time = _whole_seconds(self.config.get("max_retry_seconds"), 120)
        self._outage_limit = 1.5 * self.max_time

    def interpret_response(self, response_or_exception: Any) -> ErrorResolution:
        response = response_or_exception if isinstance(response_or_exception, requests.Response) else None
        if response is not None and 200 <= response.status_code < 300 and self._record_key:
            body = page_body(response)
            if body.__class__ is dict and body.get(self._record_key).__class__ is list:
                _OUTAGES.answered(response.url)
                return ErrorResolution(response_action=ResponseAction.SUCCESS)
        resolution = super().interpret_response(response_or_exception)
        action = resolution.response_action
        if action == ResponseAction.IGNORE:
            refused_all = _refused_every_check_scope(self.config, self._scope)
            if refused_all:
                return ErrorResolution(
                    response_action=ResponseAction.FAIL,
                    failure_type=FailureType.config_error,
                    error_message=(
                        f"Cart.com refused every resource the check tried, so no stream can be read "
                        f"(scopes {', '.join(refused_all)}). Check that the access token belongs to "
                        f"this store and give it the read scopes of the streams you sync (Tools > Apps "
                        f"& Addons > API Apps & Integrations > Tokens)."
                    ),
                )
            # Logged here at WARN; the CDK then logs its own one-line note at INFO.
            _LOGGER.warning(resolution.error_message or "Cart.com refused a resource: its stream is skipped.")
            return ErrorResolution(response_action=action, failure_type=resolution.failure_type)
        elif action == ResponseAction.RETRY and (response is None or response.status_code != 429):
            request = response.request if response is not None else getattr(response_or_exception, "request", None)
            down_for = _OUTAGES.failed(getattr(request, "url", None), self._outage_limit)
            if down_for > self._outage_limit:
                return ErrorResolution(
                    response_action=ResponseAction.FAIL,
                    failure_type=FailureType.transient_error,
                    error_message=(
                        f"Cart.com has answered no request successfully for {_duration(down_for)} "
                        f"(last: {resolution.error_message or response_or_exception}). The sync stops "
                        f"here instead of retrying every stream; the state saved so far is kept, so the "
                        f"next attempt goes on from there. max_retry_seconds sets how long to retry."
                    ),
                )
        elif response is not None and response.status_code < 400:
            _OUTAGES.answered(response.url)
        return resolution


# A check reads one stream per scope (the manifest's check lists them, and sets `check_scopes`
# in the config it runs with); a refused one is skipped as in a sync, unless it is the last
# scope the check had left: then no stream can be read, and the check fails saying so.
_CHECK_REFUSALS: "dict[int, tuple[Mapping[str, Any], set]]" = {}


def _refused_every_check_scope(config: Mapping[str, Any], scope: str) -> List[str]:
    scopes = config.get("check_scopes")
    if not isinstance(scopes, list) or not scopes:
        return []
    entry = _CHECK_REFUSALS.get(id(config))
    if entry is None or entry[0] is not config:  # the config is held, so its id is never reused
        entry = _CHECK_REFUSALS[id(config)] = (config, set())
    entry[1].add(scope)
    return sorted(entry[1]) if entry[1] >= set(scopes) else []


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _whole_seconds(value: Any, default: int) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return default


class _Outages:
    """Per store host: since when every answer has been a fault (5xx, a dropped connection, a
    page without its list). A fault long after the previous one starts afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: "dict[Any, tuple[float, float]]" = {}

    def answered(self, url: Any) -> None:
        host = urllib.parse.urlsplit(url or "").hostname
        if host in self._failing:
            with self._lock:
                self._failing.pop(host, None)

    def failed(self, url: Any, limit: float) -> float:
        """Records a fault; returns how long the store has been failing."""
        host, now = urllib.parse.urlsplit(url or "").hostname, time.monotonic()
        with self._lock:
            since, last = self._failing.get(host, (now, now))
            if now - last > limit + 120:  # longer than any wait between two retries
                since = now
            self._failing[host] = (since, now)
        return now - since


_OUTAGES = _Outages()
_LOGGER = logging.getLogger("airbyte")


@dataclass
class KeyExtractor(DpathExtractor):
    """The stock DpathExtractor, reading a path of plain keys directly, and refusing a page that
    does not advance.

    Why: `dpath.get` walks every value of the page to match the path as a glob (a sixth of the
    CPU of a sync). A path of plain keys leads to one value, the one dpath finds, so it is read
    key by key from the page parsed once; any other path, or a page that is no JSON object,
    goes to the stock code. And the id walks ask for records above an id (`id=gt:<last id>`):
    a page holding one at or below it means the store ignored the filter, and the stock
    CursorPagination would ask for the same page forever, so the stream stops with an error.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._key_path = [InterpolatedString.create(part, parameters=parameters) for part in self.field_path]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        path = [part.eval(self.config) for part in self._key_path]
        body = page_body(response)
        if not path or self.record_expander or body.__class__ is not dict or any(
            not isinstance(key, str) or any(glob in key for glob in "*?[]") for key in path
        ):
            yield from super().extract_records(response)
            return
        extracted: Any = body
        for key in path:
            extracted = extracted.get(key) if isinstance(extracted, dict) else None
        if isinstance(extracted, list):
            _check_ids_advance(response, extracted)
            yield from extracted
        elif extracted:
            yield extracted


def _check_ids_advance(response: requests.Response, records: List[Any]) -> None:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(getattr(response.request, "url", "") or "").query)
    floor = (query.get("id") or [""])[0]
    if not (floor.startswith("gt:") and floor[3:].isdigit()):
        return
    for record in records:
        record_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(record_id, str) and record_id.isdigit():
            record_id = int(record_id)
        if isinstance(record_id, int) and record_id <= int(floor[3:]):
            raise traced(
                f"Cart.com answered {response.url.split('?')[0]} asked for records above id "
                f"{floor[3:]} with id {record_id}: paging does not advance, so the stream stops "
                f"rather than read the same records again."
            )


# ---------------------------------------------------------------------------------------------
# The updated_at keyset walk
# ---------------------------------------------------------------------------------------------


def _page_as_sent(response: requests.Response, record_key: str, page: int = 1) -> "tuple[bool, Optional[Mapping[str, Any]]]":
    """(more records match the request?, the page's last record) as the server sent the page,
    before any record was filtered out. More match when the answer links a `next_page` or its
    `total_count` exceeds the page: a short page alone proves nothing (the server caps `count`)."""
    body = page_body(response)
    records = body.get(record_key) if body.__class__ is dict else None
    if not isinstance(records, list):  # the error handler retries such a page first
        raise traced(f"Cart.com answered {response.url.split('?')[0]} without its '{record_key}' list.")
    total = body.get("total_count")
    # Past page 1 (pages stepped only through records without a cursor) total_count counts the
    # earlier pages too, so only next_page tells.
    counted = isinstance(total, int) and total > len(records) and page == 1
    more = bool(records) and (bool(body.get("next_page")) or counted)
    last = records[-1] if records and isinstance(records[-1], dict) else None
    return more, last


@dataclass
class UpdatedAtWalk(PaginationStrategy):
    """Walks one date window in ascending `updated_at` without ever stepping page numbers.

    Why custom: page-number paging sorted by `updated_at` skips a record whenever one on an
    earlier page is updated during the sync (all later records shift by one). Here each page
    moves the lower bound to the last `updated_at` read and asks for page 1 again, so a record
    that moves can only move ahead of the reader. A run of equal timestamps longer than a page (a
    bulk import) is read by id instead: `updated_at` within that microsecond, `id=gt:<last id>`,
    sorted by id. The CDK's `pagination_reset` does the first half but fails on such a run.

    The token holds the next request's filter parameters, which the requester's templates read.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    page_size: Union[int, str] = 1000
    record_key: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._record_key = self.record_key or parameters.get("record_key") or parameters.get("resource", "")
        self._size = int(self.config.get("page_size") or self.page_size)
        self._first_start = to_utc(self.config.get("start_date"))

    @property
    def initial_token(self) -> Optional[Any]:
        # Set by PageCheckpoints for a window that starts inside a run of equal timestamps, and
        # taken by the first read of it (a second one reads the run from its start: more, not less).
        token, _PAGE.resume = getattr(_PAGE, "resume", None), None
        return token

    def get_page_size(self) -> Optional[int]:
        return self._size

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Any],
        last_page_token_value: Optional[Any] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> Optional[Mapping[str, Any]]:
        current = last_page_token_value or {}
        token = self._next(response, current, stream_slice or {})
        seen = _ids_of_page(response, self._record_key)
        if token is not None and seen and seen == current.get("after_page") and int(current.get("page", 1)) > 1:
            # Stepping pages (through records without updated_at): the next page number holding
            # the same ids means the store ignores the page asked for. (Moving the lower bound may
            # rightly show a page again once: the walk then reads that moment by id.)
            raise traced(
                f"Cart.com answered {response.url.split('?')[0]} with the same records again "
                f"(ids {seen}): paging does not advance, so the stream stops rather than read the "
                f"same records forever."
            )
        if token is not None:
            token = {**token, "after_page": seen}
            current = {**current, "after_page": seen}
        if token is not None and token == current:
            # The same request again would get the same page again: fail rather than loop.
            raise traced(
                f"Cart.com answered {response.url.split('?')[0]} with the same page again "
                f"(filter {current.get('updated_at')!r}, id {current.get('id', '-')!r}): paging "
                f"does not advance, so the stream stops rather than read the same records forever."
            )
        checkpoint = _checkpoint_of(token)
        read_up_to = getattr(_PAGE, "read_up_to", None)
        if checkpoint is not None and read_up_to is not None:
            read_up_to(checkpoint)  # the page is read: said before the next request goes out
        return token

    def _next(
        self, response: requests.Response, current: Mapping[str, Any], stream_slice: Mapping[str, Any]
    ) -> Optional[Mapping[str, Any]]:
        more, last = _page_as_sent(response, self._record_key, int(current.get("page", 1)))
        _check_filter_kept(response, self._record_key, current.get("since"))
        window_start = stream_slice.get("start_time")
        window_end = stream_slice.get("end_time")
        # A first sync's first page has no updated_at filter (see the manifest): the only way to
        # reach records whose updated_at is empty, which Cart.com sorts first.
        unfiltered = current.get("unfiltered") if current else to_utc(window_start) == self._first_start
        since = current.get("since") or window_start

        if current.get("tie_until"):  # inside a run of equal timestamps, keyed by id
            if not more or last is None:
                return _window(current["tie_until"], window_end)  # the run is read: go on above it
            return _tie(since, current["tie_until"], last.get("id"))
        if not more or last is None:
            return None
        last_value = to_utc(last.get("updated_at"))
        if not is_timestamp(last_value):
            # No usable cursor on the page's last record (only blank ones sort there): next page.
            token = dict(current) if current else {"unfiltered": True, "updated_at": "", "sort": "updated_at"}
            token["page"] = int(token.get("page", 1)) + 1
            return token
        if window_end and last_value > to_utc(window_end):
            return None  # pages are sorted: every record of the window up to its end was on this one
        if unfiltered:
            return _window(max(last_value, to_utc(window_start)), window_end)
        if since and last_value <= to_utc(since):
            # The whole page shares the lower bound: read that microsecond by id.
            return _tie(since, _plus_one_microsecond(since), None)
        return _window(last_value, window_end)


def _check_filter_kept(response: requests.Response, record_key: str, since: Optional[str]) -> None:
    """A page asked for `updated_at` from `since` on starts at or above it (pages are sorted). One
    that starts below means the store ignored the filter: the walk would read the same records
    again and again, so the stream stops (after one page read twice, at most)."""
    if not since:
        return
    for record in page_body(response).get(record_key) or []:
        value = to_utc(record.get("updated_at")) if isinstance(record, dict) else None
        if is_timestamp(value):
            if value < to_utc(since):
                raise traced(
                    f"Cart.com answered {response.url.split('?')[0]} asked for records updated from "
                    f"{since} on with one updated at {value} (id {record.get('id')}): it ignores the "
                    f"filter and paging does not advance, so the stream stops rather than read the "
                    f"same records again."
                )
            return


def _ids_of_page(response: requests.Response, record_key: str) -> str:
    records = page_body(response).get(record_key) or []
    first, last = (records[0], records[-1]) if records else ({}, {})
    ids = [r.get("id") if isinstance(r, dict) else None for r in (first, last)]
    return f"{len(records)}:{ids[0]}-{ids[1]}" if records else ""


def _window(since: str, end: Optional[str]) -> MutableMapping[str, Any]:
    since = to_utc(since)
    bounds = f"gte:{since} AND lte:{to_utc(end)}" if end else f"gte:{since}"
    return {"since": since, "updated_at": bounds, "sort": "updated_at", "page": 1}


def _tie(since: str, until: str, after_id: Any) -> MutableMapping[str, Any]:
    since = to_utc(since)
    token = {"since": since, "tie_until": until, "updated_at": f"gte:{since} AND lt:{until}", "sort": "id", "page": 1}
    if after_id is not None:
        token["id"] = f"gt:{after_id}"
    return token


def _plus_one_microsecond(value: str) -> str:
    return _plus(value, datetime.timedelta(microseconds=1))


def _plus(value: str, delta: datetime.timedelta) -> str:
    moment = datetime.datetime.strptime(to_utc(value), UTC_FORMAT)
    return (moment + delta).isoformat(timespec="microseconds") + "Z"


# The CDK's datetime state converter joins two read intervals when the second starts within its
# granularity of the first's end; with the manifest's zero granularity it falls back to 1 ms.
_CURSOR_MERGE_GAP = datetime.timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------
# State after every page
# ---------------------------------------------------------------------------------------------

AFTER_ID = "after_id"  # in state: every record before `updated_at`, and those at it with ids up to this, were emitted
_PAGE = threading.local()  # per worker thread (one window at a time): the walk's position


def _checkpoint_of(token: Optional[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    """Where a resumed sync may start, given the next request's token: everything before it has
    been emitted. Pages stepped by number (records without updated_at) have no such point."""
    if not token or token.get("unfiltered") or not token.get("since"):
        return None
    after = str(token.get("id", ""))
    if token.get("tie_until") and after.startswith("gt:") and after[3:].isdigit():
        return {"updated_at": token["since"], AFTER_ID: int(after[3:])}
    return {"updated_at": token["since"]}


class _StreamProgress:
    """What one stream's windows have done in this sync: where it started, which windows are
    read whole, and a position inside a run of equal timestamps to resume from."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.state_value: Optional[str] = None  # the saved state's updated_at, in UTC
        self.tie: "Optional[tuple[str, int]]" = None
        self._read: "List[tuple[str, str]]" = []
        self._lock = threading.Lock()
        self.reading = False  # set once a window is read: a stream built after that is another sync

    def resume_token(self, start: Any) -> Optional[Mapping[str, Any]]:
        with self._lock:
            if self.tie is None or self.tie[0] != start:
                return None
            (since, after_id), self.tie = self.tie, None
        return _tie(since, _plus_one_microsecond(since), after_id)

    def read_whole(self, start: Any, end: Any) -> None:
        with self._lock:
            self._read.append((str(start), str(end)))

    def everything_read_before(self, start: Any) -> bool:
        """True when the sync's first window starts here, or every window before this one has been
        read whole: only then does a position in this window say what all earlier ones hold."""
        first = max(filter(None, [to_utc(self.config.get("start_date")), self.state_value]), default="")
        reached = first
        with self._lock:
            for begin, end in sorted(self._read):
                if begin <= reached:
                    reached = max(reached, end)
        return str(start) <= reached


_PROGRESS: "dict[str, _StreamProgress]" = {}
_PROGRESS_LOCK = threading.Lock()


def _progress(config: Mapping[str, Any], stream: str, new_sync: bool = False) -> _StreamProgress:
    """The stream's progress in the sync that runs with this config (one per stream name). A new
    config starts afresh, and so does a stream built (`new_sync`) once reading has begun: the
    CDK builds the streams more than once before a read, never during it."""
    with _PROGRESS_LOCK:
        progress = _PROGRESS.get(stream)
        if progress is None or progress.config is not config or (new_sync and progress.reading):
            progress = _PROGRESS[stream] = _StreamProgress(config)
        return progress


class _ReadUpTo:
    """The part of a window read so far, as the partition the CDK's cursor closes."""

    def __init__(self, window: Any) -> None:
        self._window = window

    def to_slice(self) -> Any:
        return self._window


@dataclass
class PageCheckpoints(Retriever):
    """The stock retriever of an incremental stream (built by the CDK as usual, from the
    `retriever` definition inside), saving state after every page.

    Why custom: the CDK saves state only when a partition (a stream's whole window) is read,
    so a sync killed mid-stream starts the stream over. Pages come in ascending `updated_at`, so
    after each one the window is read up to the next request's lower bound: UpdatedAtWalk says
    so before that request goes out, and this tells the stream's cursor through its public
    interface (`observe`, `close_partition`) that the window's part up to there is read. The
    cursor then saves state as it does for a window, in order with the records, and keeps it if
    the stream later fails; with windows in parallel it saves nothing past an unfinished earlier
    window (a part ending in a window's last millisecond is not told: the cursor would join it
    to the next window). Inside a run of equal timestamps read by id the cursor cannot say how far the run
    was read, so this passes on its own STATE message with `after_id` (the CDK writes messages
    a retriever yields in order with its records) when the next page arrives or the stream
    fails; the state migration reads it back.
    """

    retriever: Retriever
    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    name: str = ""
    cursor: Any = None  # the stream's concurrent cursor, which the CDK passes to its retriever

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = self.name or parameters.get("name", "")
        field = getattr(self.cursor, "cursor_field", None)
        self._cursor_field = getattr(field, "cursor_field_key", "updated_at")

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[Any] = None) -> Iterable[Any]:
        progress = _progress(self.config, self._stream)
        progress.reading = True
        window = stream_slice if stream_slice is not None else {}
        start, end = to_utc(window.get("start_time")), to_utc(window.get("end_time"))
        _PAGE.in_tie, _PAGE.resume = None, progress.resume_token(start)
        _PAGE.read_up_to = mine = lambda checkpoint: self._read_up_to(window, start, end, checkpoint, progress)
        try:
            window_hashed_once = _HashedOnce(stream_slice) if isinstance(stream_slice, StreamSlice) else stream_slice
            for item in self.retriever.read_records(records_schema, window_hashed_once):
                if _PAGE.in_tie is not None:
                    checkpoint, _PAGE.in_tie = _PAGE.in_tie, None
                    yield self._state(checkpoint)
                yield item
        except Exception:
            checkpoint, _PAGE.in_tie = _PAGE.in_tie, None  # the page before the failed one is read
            if checkpoint is not None:
                yield self._state(checkpoint)
            raise
        finally:
            if getattr(_PAGE, "read_up_to", None) is mine:  # a read left unfinished may end later
                _PAGE.read_up_to = None
        _PAGE.in_tie = None
        progress.read_whole(start, end)

    def _read_up_to(
        self, window: Any, start: Any, end: Any, checkpoint: Mapping[str, Any], progress: "_StreamProgress"
    ) -> None:
        if AFTER_ID in checkpoint:
            # Saved by this class only where every earlier window is read whole (the cursor's
            # own state for such a window would stop at the earliest unfinished one).
            _PAGE.in_tie = checkpoint if progress.everything_read_before(start) else None
            return
        _PAGE.in_tie = None
        read_up_to = checkpoint["updated_at"]
        if self.cursor is None or not start or not read_up_to or read_up_to <= start:
            return
        if end and read_up_to < end and _plus(read_up_to, _CURSOR_MERGE_GAP) >= end:
            # The cursor joins parts less than a millisecond apart, so this part would reach the
            # next window's and claim [read_up_to, end) read too: not said until the window ends.
            return
        part = StreamSlice(
            partition=getattr(window, "partition", None) or {},
            cursor_slice={"start_time": window["start_time"], "end_time": read_up_to},
        )
        self.cursor.observe(Record(data={self._cursor_field: read_up_to}, stream_name=self._stream, associated_slice=part))
        self.cursor.close_partition(_ReadUpTo(part))

    def _state(self, checkpoint: Mapping[str, Any]) -> AirbyteMessage:
        return AirbyteMessage(
            type=Type.STATE,
            state=AirbyteStateMessage(
                type=AirbyteStateType.STREAM,
                stream=AirbyteStreamState(
                    stream_descriptor=StreamDescriptor(name=self._stream), stream_state=AirbyteStateBlob(**checkpoint)
                ),
            ),
        )

    def stream_slices(self) -> Iterable[Optional[Any]]:
        return self.retriever.stream_slices()

    @property
    def state(self) -> Any:
        return self.retriever.state

    @state.setter
    def state(self, value: Any) -> None:
        self.retriever.state = value


class _HashedOnce(StreamSlice):
    """The same window, hashed once. The records read carry it, and the stream's cursor looks
    each record's window up by its hash, which a stock slice computes anew every time (its JSON,
    then SHA-256): about a tenth of the CPU per record. Equal to the window it copies."""

    def __init__(self, window: StreamSlice) -> None:
        super().__init__(partition=window.partition, cursor_slice=window.cursor_slice, extra_fields=window.extra_fields)
        self._hash_once = super().__hash__()

    def __hash__(self) -> int:
        return self._hash_once


@dataclass
class InsideWindow(RecordFilter):
    """Keeps the records updated inside the page's window, and those without `updated_at`.

    Why custom: a first sync's unfiltered first page (see UpdatedAtWalk) also lists records
    outside its window, and their `updated_at` carry store-local offsets that a template cannot
    compare as instants. Pages come sorted, so the first and last dated records tell whether any
    record needs looking at one by one.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._resource = parameters.get("resource", "")
        self._undated = 0  # records so far whose updated_at is there but no timestamp

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: Any,
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        page: List[Mapping[str, Any]] = records if isinstance(records, list) else list(records)
        start, end = to_utc((stream_slice or {}).get("start_time")), to_utc((stream_slice or {}).get("end_time"))
        if not page or not start or not end:
            return page
        self._warn_of_undated(page)
        # A record whose updated_at is empty, or no timestamp, cannot be placed: it is kept.
        dated = [to_utc(r.get("updated_at")) for r in (page[0], page[-1])]
        if all(is_timestamp(d) and start <= d <= end for d in dated):
            return page
        kept, future, now = [], [], _utc_now()
        for record in page:
            value = to_utc(record.get("updated_at"))
            if not is_timestamp(value) or start <= value <= end:
                kept.append(record)
            elif value > now:
                future.append(record)
        if future:
            _LOGGER.warning(
                f"{len(future)} record(s) of /{self._resource} (id {future[0].get('id')}, updated_at "
                f"{future[0].get('updated_at')!r}) are dated in the future: an incremental sync reads "
                f"them once that time has come (a full refresh reads them now), so the saved state "
                f"never moves past the time the sync started."
            )
        return kept

    def _warn_of_undated(self, page: List[Mapping[str, Any]]) -> None:
        """Empty updated_at values are normal (Cart.com lists them first); any other value that is
        no timestamp is a surprise, so it is counted and said, though the record is emitted."""
        undated = [
            r for r in page
            if r.get("updated_at") not in (None, "")
            and not is_timestamp(r.get("updated_at"))
        ]
        if undated:
            self._undated += len(undated)
            _LOGGER.warning(
                f"{len(undated)} record(s) on this page of /{self._resource} (id {undated[0].get('id')}, "
                f"updated_at {str(undated[0].get('updated_at'))[:40]!r}) have an updated_at that is no "
                f"timestamp: they are emitted all the same, but the incremental cursor cannot place "
                f"them. {self._undated} such record(s) in this stream so far."
            )


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


@dataclass
class RetryAfter(BackoffStrategy):
    """Waits as long as a 429's `Retry-After` says, given as seconds or as an HTTP date.

    Why custom: `WaitTimeFromHeader` reads numbers only, so Cart.com's documented form, an HTTP
    date, would fall back to a guess. Other answers return None, so the next strategy decides.
    """

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    max_wait_seconds: float = 600.0

    def backoff_time(
        self,
        response_or_exception: Optional[Union[requests.Response, requests.RequestException]],
        attempt_count: int = 0,
    ) -> Optional[float]:
        if not isinstance(response_or_exception, requests.Response) or response_or_exception.status_code != 429:
            return None
        wait = retry_after_seconds(response_or_exception.headers.get("Retry-After"), self.max_wait_seconds)
        # The CDK sleeps one second more than a backoff strategy asks: ask one less.
        return None if wait is None else max(wait - 1.0, 0.001)


def retry_after_seconds(value: Optional[str], ceiling: float = 600.0) -> Optional[float]:
    """Seconds to wait for a `Retry-After` value (delta-seconds or HTTP date); None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_UTC)
        seconds = (when - datetime.datetime.now(_UTC)).total_seconds()
    # A reset time already passed (clock skew) still gets a one-second pause, never a hammering.
    return min(max(seconds, 1.0), ceiling)
