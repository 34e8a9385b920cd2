"""In-memory store over the lazy generator, and the Cart.com query engine.

Records are generated on demand; a record that was updated or inserted is kept as a full dict
(an override). ``created_at``, ``updated_at`` and ``id`` are fast fields: they live in compact
columns with a sorted index, so filters and sorts on them stay fast on a million records.
Any other field works too: its column is built (once, then patched) when first filtered or
sorted on.

Query semantics (Cart.com REST API v1):

- ``?field=op:value`` with ops eq (default), not, like, startwith, gt, gte, lt, lte.
- Several conditions on one field joined by `` AND `` / `` OR `` (no parentheses; AND binds
  tighter than OR). Different fields, and a field given twice, are ANDed.
- Date-time fields compare as instants; numbers compare numerically; strings case-insensitively.
  A null or "" value never matches a comparison; ``eq:`` (empty) or ``eq:null`` matches exactly
  those, ``not:`` (empty) or ``not:null`` the others.
- ``like:x`` is a case-insensitive "contains"; when x holds ``%`` it is a SQL LIKE pattern with
  ``%`` as the only wildcard (``_`` is too common in values). ``startwith:x`` is a prefix test.
- ``sort=a,-b``: stable; ties (and the default order) are by id ascending; null and "" sort
  first ascending, last descending.
"""

from __future__ import annotations

import copy
import math
import re
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import timeutil as tu
from .data import Dataset, GenConfig
from .resources import REGISTRY, Resource

OPS = ("eq", "not", "like", "startwith", "gt", "gte", "lt", "lte")
RESERVED = ("page", "count", "sort", "fields", "expand")
FAST_DATES = ("created_at", "updated_at")
SORTABLE = ("dt", "num", "str", "bool")


class QueryError(Exception):
    def __init__(self, details: str, status: int = 400):
        super().__init__(details)
        self.details = details
        self.status = status


# ----------------------------------------------------------------------------------------------
# keys


def key_of(kind: str, value: Any, tz: str) -> Any:
    """A record value -> the comparable key kept in columns."""
    if kind == "dt":
        try:
            return tu.to_ticks(value, tz)
        except ValueError:
            return tu.NULL_TICKS
    if kind == "num":
        if value is None or value == "" or isinstance(value, bool):
            return None if not isinstance(value, bool) else float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "bool":
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    # str
    if value is None:
        return None
    return str(value).lower()


def sort_key_fn(kind: str) -> Callable[[Any], Any]:
    if kind == "dt":
        return lambda v: v
    if kind == "num":
        return lambda v: -math.inf if v is None else v
    if kind == "bool":
        return lambda v: -1 if v is None else int(v)
    return lambda v: "" if v is None else v


# ----------------------------------------------------------------------------------------------
# filter expressions


@dataclass
class Cond:
    op: str
    raw: str
    value: Any = None
    null_test: bool = False


def parse_expression(text: str) -> list[list[tuple[str, str]]]:
    """'gte:A AND lte:B OR eq:C' -> [[('gte','A'),('lte','B')],[('eq','C')]]."""
    groups = []
    for part in re.split(r" OR ", text):
        conds = []
        for item in re.split(r" AND ", part):
            op, sep, rest = item.partition(":")
            if sep and op.strip().lower() in OPS:
                conds.append((op.strip().lower(), rest))
            else:
                conds.append(("eq", item))
        groups.append(conds)
    return groups


def _like_regex(pattern: str) -> re.Pattern:
    parts = [re.escape(p) for p in pattern.split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.S)


def compile_condition(field: str, kind: str, op: str, raw: str, tz: str) -> Callable[[Any], bool]:
    """A predicate over the column key of ``field`` (or the text, for like/startwith)."""
    raw_s = raw.strip()
    nullish = raw_s == "" or (kind != "str" and raw_s.lower() == "null")
    if op in ("eq", "not") and nullish:
        if kind == "dt":
            valid_min = tu.VALID_MIN
            if op == "eq":
                return lambda v: v <= valid_min
            return lambda v: v > valid_min
        if op == "eq":
            return lambda v: v is None or v == ""
        return lambda v: v is not None and v != ""
    if kind in ("list", "obj"):
        raise QueryError(f"Field '{field}' can not be filtered.")
    if op in ("like", "startwith"):
        needle = raw.lower()
        if op == "startwith":
            return lambda t: bool(t) and t.startswith(needle)
        if "%" in needle:
            rx = _like_regex(needle)
            return lambda t: bool(t) and rx.match(t) is not None
        return lambda t: bool(t) and needle in t
    if kind == "dt":
        try:
            x = tu.parse(raw_s, tz)
        except ValueError:
            raise QueryError(f"Invalid date value '{raw}' for field '{field}'.")
        vm = tu.VALID_MIN
        return {
            "eq": lambda v: v == x,
            "not": lambda v: v > vm and v != x,
            "gt": lambda v: v > x,
            "gte": lambda v: v >= x,
            "lt": lambda v: vm < v < x,
            "lte": lambda v: vm < v <= x,
        }[op]
    if kind == "num":
        try:
            x = float(raw_s)
        except ValueError:
            raise QueryError(f"Invalid numeric value '{raw}' for field '{field}'.")
    elif kind == "bool":
        low = raw_s.lower()
        if low in ("true", "1", "yes"):
            x = True
        elif low in ("false", "0", "no"):
            x = False
        else:
            raise QueryError(f"Invalid boolean value '{raw}' for field '{field}'.")
    else:
        x = raw.lower()
    if kind == "str":
        return {
            "eq": lambda v: bool(v) and v == x,
            "not": lambda v: bool(v) and v != x,
            "gt": lambda v: bool(v) and v > x,
            "gte": lambda v: bool(v) and v >= x,
            "lt": lambda v: bool(v) and v < x,
            "lte": lambda v: bool(v) and v <= x,
        }[op]
    return {
        "eq": lambda v: v is not None and v == x,
        "not": lambda v: v is not None and v != x,
        "gt": lambda v: v is not None and v > x,
        "gte": lambda v: v is not None and v >= x,
        "lt": lambda v: v is not None and v < x,
        "lte": lambda v: v is not None and v <= x,
    }[op]


@dataclass
class FieldFilter:
    field: str
    kind: str
    groups: list[list[tuple[str, str]]]
    needs_text: bool
    predicate: Callable[[Any, Any], bool]  # (key, text) -> bool
    range: tuple | None  # (lo, lo_incl, hi, hi_incl) when a single AND group of range ops


def build_filter(field: str, kind: str, text: str, tz: str) -> FieldFilter:
    groups = parse_expression(text)
    compiled = []
    needs_text = False
    for conds in groups:
        preds = []
        for op, raw in conds:
            pred = compile_condition(field, kind, op, raw, tz)
            is_text = op in ("like", "startwith")
            needs_text = needs_text or is_text
            preds.append((is_text, pred))
        compiled.append(preds)

    if len(compiled) == 1 and len(compiled[0]) == 1:
        is_text, p = compiled[0][0]
        predicate = (lambda k, t, p=p: p(t)) if is_text else (lambda k, t, p=p: p(k))
    else:
        def predicate(k, t, compiled=compiled):
            for preds in compiled:
                for is_text, p in preds:
                    if not p(t if is_text else k):
                        break
                else:
                    return True
            return False

    rng = None
    if len(groups) == 1 and kind in ("dt", "num"):
        lo, lo_incl, hi, hi_incl = None, True, None, True
        ok = True
        for op, raw in groups[0]:
            if op not in ("eq", "gt", "gte", "lt", "lte") or raw.strip() == "" or raw.strip().lower() == "null":
                ok = False
                break
            x = tu.parse(raw.strip(), tz) if kind == "dt" else float(raw.strip())
            if op in ("eq", "gt", "gte"):
                incl = op != "gt"
                if lo is None or x > lo or (x == lo and not incl):
                    lo, lo_incl = x, incl
            if op in ("eq", "lt", "lte"):
                incl = op != "lt"
                if hi is None or x < hi or (x == hi and not incl):
                    hi, hi_incl = x, incl
        if ok:
            rng = (lo, lo_incl, hi, hi_incl)
    return FieldFilter(field, kind, groups, needs_text, predicate, rng)


# ----------------------------------------------------------------------------------------------
# table


class _IdKeys:
    """The ids of a table in index order, as a sequence for bisect."""

    def __init__(self, table: "Table"):
        self.t = table

    def __len__(self):
        return self.t.n

    def __getitem__(self, i):
        return self.t.id_of(i)


class _Identity:
    def __init__(self, table: "Table"):
        self.t = table

    def __len__(self):
        return self.t.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return range(*i.indices(self.t.n))
        return i


class Table:
    def __init__(self, store: "Store", resource: Resource):
        self.store = store
        self.resource = resource
        self.path = resource.path
        self.ds: Dataset = store.dataset
        self.gen = self.ds.gen(resource.path)
        self.tz = self.ds.cfg.tz
        cols = self.ds.columns(resource.path)
        self.cols = cols
        self.n_gen = cols.n
        self.id_start = cols.id_start
        self.kinds = dict(self.gen.kinds)
        self.fast: dict[str, array] = {}
        for f in FAST_DATES:
            if f in self.kinds:
                self.fast[f] = cols.created if f == "created_at" else cols.updated
        self._owned: set[str] = set()
        self.overrides: dict[int, dict] = {}
        self.extra_ids: list[int] = []
        self.extra_id_to_idx: dict[int, int] = {}
        self.extra_children: dict[int, list[int]] = {}  # parent id -> inserted child idx
        self._index: dict[str, tuple[array, array]] = {}
        self._colcache: dict[str, list] = {}
        self._textcache: dict[str, list] = {}
        self.deleted: set[int] = set()  # idx of deleted records: never listed or found again
        self.version = 0

    # -- identity ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.n_gen + len(self.extra_ids)

    def id_of(self, idx: int) -> int:
        if idx < self.n_gen:
            return self.id_start + idx
        return self.extra_ids[idx - self.n_gen]

    def idx_of(self, rid: int) -> int | None:
        if self.id_start <= rid < self.id_start + self.n_gen:
            idx = rid - self.id_start
        else:
            idx = self.extra_id_to_idx.get(rid)
        return None if idx in self.deleted else idx

    def next_id(self) -> int:
        if self.extra_ids:
            return self.extra_ids[-1] + 1
        return self.id_start + self.n_gen

    # -- records ----------------------------------------------------------------------------
    def record(self, idx: int) -> dict:
        rec = self.overrides.get(idx)
        if rec is None:
            rec = self.ds.make(self.path, idx)
        return rec

    def record_copy(self, idx: int) -> dict:
        return copy.deepcopy(self.record(idx))

    def _own(self, f: str):
        if f not in self._owned:
            self.fast[f] = array("q", self.fast[f])
            self._owned.add(f)

    def put(self, idx: int, rec: dict) -> None:
        """Replace record idx (an existing index) with rec."""
        old_keys = {f: self.fast[f][idx] for f in self.fast}
        self.overrides[idx] = rec
        for f in self.fast:
            new = key_of("dt", rec.get(f), self.tz)
            if new != old_keys[f]:
                self._own(f)
                self.fast[f][idx] = new
                self._index_move(f, idx, old_keys[f], new)
        for f, col in self._colcache.items():
            col[idx] = key_of(self.kinds[f], rec.get(f), self.tz)
        for f, col in self._textcache.items():
            col[idx] = _text(rec.get(f))
        self.version += 1

    def delete(self, idx: int) -> None:
        """Remove record idx from every list and lookup; its id is not given out again."""
        self.deleted.add(idx)
        self.version += 1

    def insert(self, rec: dict) -> int:
        """Append a new record (its id must be new); returns its index."""
        rid = int(rec["id"])
        if self.idx_of(rid) is not None or (self.extra_ids and rid <= self.extra_ids[-1]) or rid < self.id_start + self.n_gen:
            raise QueryError(f"Record id {rid} is not new.", 409)
        idx = self.n
        self.extra_ids.append(rid)
        self.extra_id_to_idx[rid] = idx
        self.overrides[idx] = rec
        for f in self.fast:
            self._own(f)
            k = key_of("dt", rec.get(f), self.tz)
            self.fast[f].append(k)
            if f in self._index:
                keys, order = self._index[f]
                pos = bisect_right(keys, k)
                keys.insert(pos, k)
                order.insert(pos, idx)
        for f, col in self._colcache.items():
            col.append(key_of(self.kinds[f], rec.get(f), self.tz))
        for f, col in self._textcache.items():
            col.append(_text(rec.get(f)))
        pf = self.gen.parent_field
        if pf and rec.get(pf) is not None:
            self.extra_children.setdefault(rec[pf], []).append(idx)
        self.version += 1
        return idx

    # -- columns and indexes ----------------------------------------------------------------
    def kind(self, field: str) -> str | None:
        return self.kinds.get(field)

    def column(self, field: str):
        if field in self.fast:
            return self.fast[field]
        if field == "id":
            return _IdKeys(self)
        col = self._colcache.get(field)
        if col is None:
            kind = self.kinds[field]
            tz = self.tz
            col = self.gen.fast_column(field) if kind == "num" else None
            if col is not None:
                for idx, rec in self.overrides.items():
                    if idx < self.n_gen:
                        col[idx] = key_of(kind, rec.get(field), tz)
                col.extend(key_of(kind, self.record(i).get(field), tz)
                           for i in range(self.n_gen, self.n))
            else:
                col = [key_of(kind, self.record(i).get(field), tz) for i in range(self.n)]
            self._colcache[field] = col
        return col

    def text_column(self, field: str):
        col = self._textcache.get(field)
        if col is None:
            col = [_text(self.record(i).get(field)) for i in range(self.n)]
            self._textcache[field] = col
        return col

    def index(self, field: str):
        """(sorted keys, idx in that order) for a fast field; ties in index order."""
        if field == "id":
            return _IdKeys(self), _Identity(self)
        ix = self._index.get(field)
        if ix is None:
            col = self.fast[field]
            order = sorted(range(len(col)), key=col.__getitem__)
            ix = (array("q", (col[i] for i in order)), array("q", order))
            self._index[field] = ix
        return ix

    def _index_move(self, field: str, idx: int, old: int, new: int):
        ix = self._index.get(field)
        if ix is None:
            return
        keys, order = ix
        lo, hi = bisect_left(keys, old), bisect_right(keys, old)
        pos = bisect_left(order, idx, lo, hi)
        if pos < hi and order[pos] == idx:
            del keys[pos]
            del order[pos]
        else:  # should not happen; rebuild
            del self._index[field]
            return
        lo, hi = bisect_left(keys, new), bisect_right(keys, new)
        pos = bisect_left(order, idx, lo, hi)
        keys.insert(pos, new)
        order.insert(pos, idx)

    # -- children ---------------------------------------------------------------------------
    def children_idx(self, parent_table: "Table", parent_idx: int) -> list[int]:
        pid = parent_table.id_of(parent_idx)
        out: list[int] = []
        prefix = self.cols.prefix
        if prefix is not None and parent_idx < len(prefix) - 1:
            out.extend(range(prefix[parent_idx], prefix[parent_idx + 1]))
        out.extend(self.extra_children.get(pid, ()))
        pf = self.gen.parent_field
        if pf and self.overrides:
            out = [i for i in out if i not in self.overrides or self.overrides[i].get(pf) == pid]
        return [i for i in out if i not in self.deleted] if self.deleted else out


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


# ----------------------------------------------------------------------------------------------
# query


@dataclass
class ListResult:
    total: int
    idx: list[int]
    page: int
    count: int


def _asc_range_page(start: int, end: int, offset: int, limit: int) -> range:
    a = start + offset
    return range(a, min(end, a + limit))


def _desc_positions(keys, start: int, end: int, offset: int, limit: int) -> list[int]:
    """Positions (into an ascending ``keys``) of the descending order with ties kept ascending."""
    out = []
    group = None
    for p in range(offset, min(offset + limit, end - start)):
        q = end - 1 - p
        if group is None or not (group[0] <= q < group[1]):
            k = keys[q]
            group = (bisect_left(keys, k, start, end), bisect_right(keys, k, start, end))
        gs, ge = group
        out.append(gs + (p - (end - ge)))
    return out


class Store:
    def __init__(self, cfg: GenConfig | None = None, registry: dict[str, Resource] | None = None):
        self.registry = registry or REGISTRY
        self.reset(cfg or GenConfig())

    def reset(self, cfg: GenConfig) -> None:
        self.cfg = cfg
        self.dataset = Dataset(cfg, {p: r.generator for p, r in self.registry.items()})
        self.tables: dict[str, Table] = {}

    def table(self, path: str) -> Table:
        t = self.tables.get(path)
        if t is None:
            if path not in self.registry:
                raise QueryError(f"Resource '{path}' not found.", 404)
            t = self.tables[path] = Table(self, self.registry[path])
        return t

    # -- parsing ----------------------------------------------------------------------------
    def parse_list_params(self, table: Table, pairs: Iterable[tuple[str, str]], max_count: int):
        page, count = 1, 100
        sort: list[tuple[str, bool]] = []
        fields: list[str] | None = None
        expand: list[str] = []
        filters: dict[str, FieldFilter] = {}
        extra: list[FieldFilter] = []
        for name, value in pairs:
            lname = name.lower()
            if lname == "page":
                try:
                    page = int(value)
                except ValueError:
                    raise QueryError(f"Invalid page '{value}'.")
                if page < 1:
                    raise QueryError(f"Invalid page '{value}'.")
            elif lname == "count":
                try:
                    count = int(value)
                except ValueError:
                    raise QueryError(f"Invalid count '{value}'.")
                if count < 1:
                    raise QueryError(f"Invalid count '{value}'.")
            elif lname == "sort":
                for part in value.split(","):
                    part = part.strip()
                    if not part:
                        continue
                    desc = part.startswith("-")
                    fname = part.lstrip("-+").strip()
                    if table.kind(fname) not in SORTABLE:
                        raise QueryError(f"Invalid sort field '{fname}'.")
                    sort.append((fname, desc))
            elif lname == "fields":
                fields = [f.strip() for f in value.split(",") if f.strip()]
            elif lname == "expand":
                expand = [f.strip() for f in value.split(",") if f.strip()]
            else:
                kind = table.kind(name)
                if kind is None:
                    raise QueryError(f"Invalid filter field '{name}'.")
                ff = build_filter(name, kind, value, table.tz)
                if name in filters:
                    extra.append(ff)
                else:
                    filters[name] = ff
        return page, min(count, max_count), sort, fields, expand, filters, extra

    # -- execution --------------------------------------------------------------------------
    def query(self, table: Table, filters: dict[str, FieldFilter], extra: list[FieldFilter],
              sort: list[tuple[str, bool]], page: int, count: int,
              base: list[int] | None = None) -> ListResult:
        offset = (page - 1) * count
        primary, primary_desc = sort[0] if sort else ("id", False)
        trivial_rest = sort[1:] in ([], [("id", False)])

        # choose an index range
        best = None  # (field, start, end)
        if base is None:
            for f, ff in filters.items():
                if ff.range is None or not (f in table.fast or f == "id"):
                    continue
                keys, _ = table.index(f)
                lo, lo_incl, hi, hi_incl = ff.range
                if lo is None:
                    s = bisect_right(keys, tu.EMPTY_TICKS) if f != "id" else 0
                else:
                    s = bisect_left(keys, lo) if lo_incl else bisect_right(keys, lo)
                if hi is None:
                    e = len(keys)
                else:
                    e = bisect_right(keys, hi) if hi_incl else bisect_left(keys, hi)
                e = max(s, e)
                if best is None or (e - s) < (best[2] - best[1]) or (
                        (e - s) == (best[2] - best[1]) and f == primary):
                    best = (f, s, e)
            if best is None and (primary in table.fast or primary == "id") and trivial_rest:
                keys, _ = table.index(primary)
                best = (primary, 0, len(keys))

        remaining = [ff for f, ff in filters.items() if best is None or f != best[0]] + extra

        def passes(idx_iter):
            cols = []
            for ff in remaining:
                key_col = table.column(ff.field)
                text_col = table.text_column(ff.field) if ff.needs_text else None
                cols.append((ff.predicate, key_col, text_col))
            out = []
            for i in idx_iter:
                if i in table.deleted:
                    continue
                for pred, kc, tc in cols:
                    if not pred(kc[i], tc[i] if tc is not None else None):
                        break
                else:
                    out.append(i)
            return out

        if best is not None:
            f, s, e = best
            keys, order = table.index(f)
            ordered = f == primary and trivial_rest
            if ordered and not remaining and not table.deleted:
                total = e - s
                if primary_desc:
                    positions = _desc_positions(keys, s, e, offset, count)
                else:
                    positions = _asc_range_page(s, e, offset, count)
                return ListResult(total, [order[p] for p in positions], page, count)
            cands = passes(order[p] for p in range(s, e))
            if ordered:
                if primary_desc:
                    col = table.column(primary)
                    cands.sort(key=col.__getitem__, reverse=True)
                total = len(cands)
                return ListResult(total, cands[offset:offset + count], page, count)
            if f != "id":
                cands.sort()
        else:
            cands = passes(base if base is not None else range(table.n))

        for fname, desc in reversed(sort):
            col = table.column(fname)
            kf = sort_key_fn(table.kind(fname))
            if fname == "id":
                if desc:
                    cands.sort(reverse=True)
                continue
            cands.sort(key=lambda i, col=col, kf=kf: kf(col[i]), reverse=desc)
        return ListResult(len(cands), cands[offset:offset + count], page, count)

    # -- output -----------------------------------------------------------------------------
    def render(self, table: Table, idx: int, fields: list[str] | None, expand: list[str]) -> dict:
        rec = table.record(idx)
        if fields:
            out = {f: rec[f] for f in fields if f in rec}
        else:
            out = dict(rec)
        for name in expand:
            child = self.child_table(table, name)
            if child is not None:
                out[name] = [child.record(i) for i in child.children_idx(table, idx)]
        return out

    def child_table(self, parent: Table, name: str) -> Table | None:
        for path, res in self.registry.items():
            gen_cls = res.generator
            if getattr(gen_cls, "parent", None) == parent.path and getattr(gen_cls, "parent_field", None) and (
                    res.key == name or path == name):
                return self.table(path)
        return None
