"""SQL expressions that type and validate an uploaded file, row by row, in DuckDB.

`stage_select()` builds one SELECT over the raw (all-text) rows that yields, per mapped
field, a typed value column `__mp_v_<field>` and a single `__mp_reason` column holding
'<field>|<reason_code>' for the first rule the row breaks (NULL when the row is good).
The raw text columns are not kept: a bad row carries its raw values as JSON (`__mp_raw`)
and the offending cell (`__mp_value`); good rows carry NULL there, so staging a large
file stores little more than the typed values it loads.
Column names come from uploaded files, so they are always quoted with `ident()`; values
are never spliced into SQL.
"""
from __future__ import annotations

from datetime import date

from engine.ingest.mapping import (CHOICE_PATTERNS, CHOICES, MULTI_CHOICE, MULTI_JOIN,
                                   MULTI_ORDER, ColumnMapping, FieldSpec, fields)

# Tried in this order unless a sample of the column says otherwise (see rank_formats).
# Two-digit-year formats come first: they cannot match a four-digit year.
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%y", "%d-%m-%Y", "%d/%m/%y", "%d/%m/%Y", "%d-%b-%y",
                "%d-%b-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d-%B-%Y")
MIN_YEAR = 1950
TRUE_WORDS = ("1", "true", "yes", "y", "t", "x", "on", "promo", "return", "returned", "r",
              "refund", "sales return")
# A share column (feature / display / tpr) holds a number 0..1 or one of these words
# (any case), most common first.
SHARE_WORDS = {"0": 0.0, "1": 1.0, "n": 0.0, "y": 1.0, "no": 0.0, "yes": 1.0, "false": 0.0,
               "true": 1.0}
NOT_REPORTED = ("NR", "N/R", "NA", "N/A", "-", "--", "NIL")
# A footer's label, lower case and trimmed: 'Total', 'Grand Total', 'Sub-total', 'TOTAL:',
# 'Total (Rs.)', 'Totals'. A row whose only text is such a label (the rest numbers or
# blank) is a total row: counted and set aside, never loaded or blamed on a blank cell.
TOTAL_LABEL = r"((grand|sub|net|overall|page|report|final)[ _.-]*)?totals?([ :.(].*)?"
# Files wider than this are not searched for total rows (their bad rows are quarantined
# with their field's reason as before).
TOTAL_MAX_COLUMNS = 200
# Key text fields are trimmed; descriptive text is stored verbatim.
TRIMMED = {"sku_id", "pin_code", "store_id", "transaction_id", "market", "commodity",
           "state", "district", "variety", "grade"}


def ident(name: str) -> str:
    """Quote an identifier that came from a file header."""
    return '"' + str(name).replace('"', '""') + '"'


def v(field: str) -> str:
    return ident(f"__mp_v_{field}")


def trim_expr(col: str, padded: bool = True) -> str:
    """trim(col), skipping the call for the common case it cannot change: DuckDB's trim
    strips only Unicode space separators, and the only ASCII one is ' '. When no cell of
    the file is `padded`, the column is taken as it is."""
    if not padded:
        return col
    return (f"(CASE WHEN NOT (prefix({col}, ' ') OR suffix({col}, ' ')) "
            f"AND strlen({col}) = length({col}) THEN {col} ELSE trim({col}) END)")


def token_expr(col: str, padded: bool = True) -> str:
    """The date part of a date or date-time text: '2024-01-05T10:00' -> '2024-01-05'."""
    t = f"trim({col})"
    plain = f"strlen({col}) BETWEEN 6 AND 11"
    if padded:
        plain += f" AND {trim_expr(col)} = {col}"
    return (f"CASE WHEN {plain} THEN {col} "
            f"WHEN strlen({t}) <= 11 THEN {t} "
            f"WHEN substr({t}, 11, 1) IN ('T', ' ') AND substr({t}, 5, 1) = '-' "
            f"THEN left({t}, 10) ELSE split_part({t}, ' ', 1) END")


def tok(field: str) -> str:
    return ident(f"__mp_t_{field}")


def num(field: str) -> str:
    return ident(f"__mp_n_{field}")


def known(field: str) -> str:
    return ident(f"__mp_k_{field}")


def date_expr(token_col: str, formats: tuple[str, ...]) -> str:
    tries = ", ".join(f"try_strptime({token_col}, '{f}')" for f in formats)
    return f"CAST(COALESCE({tries}) AS DATE)" if len(formats) > 1 else \
        f"CAST(try_strptime({token_col}, '{formats[0]}') AS DATE)"


def raw_number_expr(col: str, percent: bool = False) -> str:
    """'1,200' / '₹ 1,200.50' / 'Rs. 40' -> a DOUBLE (NaN/inf are caught one layer up);
    with `percent`, '15%' / '15 %' -> 15 too."""
    cleaned = (f"replace(replace(replace(replace(replace({col}, ',', ''), '₹', ''), "
               f"'Rs.', ''), 'Rs', ''), 'INR', '')")
    if percent:
        cleaned = f"replace({cleaned}, '%', '')"
    return f"COALESCE(TRY_CAST({col} AS DOUBLE), TRY_CAST({cleaned} AS DOUBLE))"


def choice_key_expr(col: str) -> str:
    """The text a `choice` cell is looked up by: lower case, every run of characters other
    than letters and digits one space, trimmed ('Buy 1 + Get 1!' -> 'buy 1 get 1')."""
    return f"trim(regexp_replace(lower({col}), '[^0-9a-z]+', ' ', 'g'))"


def _choice_lookup(field: str, key: str) -> str:
    """The vocabulary's value of a looked-up key (see choice_key_expr), else NULL."""
    words = " ".join(f"WHEN {literal(w)} THEN {literal(x)}" for w, x in CHOICES[field].items())
    patterns = " ".join(f"WHEN regexp_full_match({key}, {literal(p)}) THEN {literal(x)}"
                        for p, x in CHOICE_PATTERNS.get(field, ()))
    fallback = f"CASE {patterns} END" if patterns else "NULL"
    return f"CASE {key} {words} ELSE {fallback} END"


def choice_expr(field: str, col: str, key: str) -> str:
    """The value of a `choice` field (mapping.CHOICES / CHOICE_PATTERNS / MULTI_CHOICE; the
    same rules as mapping.choice_of): NULL for a blank cell or text outside the vocabulary."""
    one = _choice_lookup(field, key)
    if field in MULTI_CHOICE:
        part_key = choice_key_expr("p")
        parts = (f"list_transform(list_filter(string_split_regex(lower({col}), "
                 f"{literal(MULTI_CHOICE[field])}), lambda p: trim(p) <> ''), "
                 f"lambda p: {_choice_lookup(field, part_key)})")
        order = "[" + ", ".join(literal(x) for x in MULTI_ORDER[field]) + "]"
        combined = (f"(SELECT CASE WHEN len(v) >= 2 AND list_count(v) = len(v) AND (NOT "
                    f"list_contains(v, 'none') OR list_unique(v) = 1) THEN array_to_string("
                    f"list_filter({order}, lambda x: list_contains(v, x)), {literal(MULTI_JOIN)}) "
                    f"END FROM (SELECT {parts} AS v))")
        one = f"coalesce({one}, {combined})"
    return f"CASE WHEN {col} IS NULL OR trim({col}) = '' THEN NULL ELSE {one} END"


def pin_expr(col: str) -> str:
    """560001.0 / ' 560001 ' -> '560001'. Anything else is kept as typed (trimmed)."""
    return (f"(CASE WHEN strlen({col}) = 6 THEN {col} "
            f"ELSE NULLIF(regexp_replace(trim({col}), '\\.0+$', ''), '') END)")


def flag_expr(col: str) -> str:
    words = ", ".join(f"'{w}'" for w in TRUE_WORDS)
    return f"COALESCE(lower(trim({col})) IN ({words}), FALSE)"


def share_expr(col: str) -> str:
    """'0.16' / '1' / 'Yes' / ' N ' -> a DOUBLE (NaN/inf are caught one layer up); NULL
    for anything else. The usual spellings ('0', '1', 'Y', 'No', 'TRUE', ...) are matched
    as they are first, numbers next: a failed cast costs several times a successful one,
    and DuckDB would work out a COALESCE's fallback for every row (2M-row timings: 0/1 or
    Y/N 0.13 s, fractions 0.3 s, against 0.4-1.4 s for cast-then-words)."""
    spelled = " ".join(f"WHEN {literal(form)} THEN {x}" for w, x in SHARE_WORDS.items()
                       for form in dict.fromkeys((w, w.upper(), w.title())))
    words = " ".join(f"WHEN {literal(w)} THEN {x}" for w, x in SHARE_WORDS.items())
    cast = f"TRY_CAST({col} AS DOUBLE)"
    return (f"CASE {col} {spelled} ELSE CASE WHEN {cast} IS NOT NULL THEN {cast} "
            f"ELSE CASE lower(trim({col})) {words} END END END")


def layer_a(spec: FieldSpec, col: str, padded: bool) -> str | None:
    """Per-field helper columns computed first (date token, raw number, cleaned PIN)."""
    if spec.type == "date":
        return f"{token_expr(col, padded)} AS {tok(spec.name)}"
    if spec.type in ("number", "int"):
        return f"{raw_number_expr(col, spec.rule == 'percent')} AS {num(spec.name)}"
    if spec.type == "choice":
        return f"{choice_key_expr(col)} AS {num(spec.name)}"
    if spec.type == "share":
        return f"{share_expr(col)} AS {num(spec.name)}"
    if spec.type == "pin":
        return f"{pin_expr(col)} AS {v(spec.name)}"
    return None


def layer_b(spec: FieldSpec, col: str, formats: tuple[str, ...], padded: bool) -> list[str]:
    """Typed value columns (and the PIN's known-code flag)."""
    if spec.type in ("number", "int", "share"):  # int stays DOUBLE for 'not_integer'
        n = num(spec.name)
        return [f"CASE WHEN isfinite({n}) THEN {n} END AS {v(spec.name)}"]
    if spec.type == "date":
        return [f"{date_expr(tok(spec.name), formats)} AS {v(spec.name)}"]
    if spec.type == "pin":
        return [f"{v(spec.name)} IN (SELECT pin_code FROM ingest_known_pins) AS {known(spec.name)}"]
    if spec.type == "flag":
        return [f"{flag_expr(col)} AS {v(spec.name)}"]
    if spec.type == "choice":
        return [f"{choice_expr(spec.name, col, num(spec.name))} AS {v(spec.name)}"]
    if spec.name in TRIMMED:
        return [f"NULLIF({trim_expr(col, padded)}, '') AS {v(spec.name)}"]
    return [f"NULLIF({col}, '') AS {v(spec.name)}"]


def rules(kind: str, spec: FieldSpec, col: str, mapping: ColumnMapping,
          today: str) -> list[tuple[str, str]]:
    """(condition, reason_code) pairs for one field, in the order they are checked.
    Cheap tests on the typed value come first so the raw text is only looked at again
    for rows that are already suspect."""
    val = v(spec.name)
    blank = f"({col} IS NULL OR trim({col}) = '')"
    out: list[tuple[str, str]] = []
    nr = f"upper(trim({col})) IN ({', '.join(repr(w) for w in NOT_REPORTED)})"
    if spec.rule == "agmark_price" and spec.required:      # the modal price
        out.append((f"{val} IS NULL AND ({blank} OR {nr})", "price_not_reported"))
    elif spec.required and spec.type != "flag":
        out.append((f"{val} IS NULL AND {blank}", "missing_value"))
    if spec.type == "text" and spec.required:
        out.append((f"{val} IS NULL", "missing_value"))
    if spec.type in ("number", "int"):
        # A blank or 'NR' min / max price is a gap, loaded as NULL (and counted).
        gap = f" AND NOT {nr}" if spec.rule == "agmark_price" and not spec.required else ""
        out.append((f"{val} IS NULL AND NOT {blank}{gap}", "not_numeric"))
    if spec.type == "share":
        out.append((f"{val} IS NULL AND NOT {blank}", "bad_flag"))
        out.append((f"{val} < 0 OR {val} > 1", "flag_out_of_range"))
    if spec.type == "int":
        out.append((f"{val} <> floor({val})", "not_integer"))
        out.append((f"{val} < 0", "negative_value"))
    if spec.rule == "quantity":
        if kind == "sales" and mapping.source("is_return"):
            out.append((f"{val} < 0 AND NOT {v('is_return')}", "negative_quantity"))
        elif kind == "sales":
            out.append((f"{val} < 0", "negative_quantity"))
        else:
            out.append((f"{val} < 0", "negative_value"))
    if spec.rule in ("price", "agmark_price"):
        out.append((f"{val} <= 0", "price_not_positive"))
    if spec.rule == "percent":
        out.append((f"{val} < 0 OR {val} >= 100", "discount_out_of_range"))
    if spec.type == "choice":
        out.append((f"{val} IS NULL AND NOT {blank}", f"unknown_{spec.name}"))
    if spec.type == "date":
        out.append((f"({val} IS NULL AND NOT {blank}) OR {val} < DATE '{MIN_YEAR}-01-01'",
                    "bad_date"))
        if spec.rule != "any_date":       # plans are about future days
            out.append((f"{val} > {today}", "future_date"))
    if spec.type == "pin":
        k = known(spec.name)
        # A cell such as '.0' is not blank but leaves no PIN once repaired (an optional
        # PIN column may be blank).
        out.append((f"{val} IS NULL" if spec.required else f"{val} IS NULL AND NOT {blank}",
                    "pin_not_6_digits"))
        out.append((f"NOT {k} AND NOT regexp_full_match({val}, '[0-9]{{6}}')",
                    "pin_not_6_digits"))
        out.append((f"NOT {k} AND left({val}, 1) = '0'", "pin_invalid"))
        out.append((f"NOT {k}", "pin_unknown"))
    return out


def passes(spec: FieldSpec, col: str, today: str) -> str | None:
    """A cheap condition that is true only when none of the field's rules can fire (it may
    be false or NULL for some good rows: those are judged by the rules themselves). Most
    rows are good, so the reason CASE tests this first instead of every rule in turn."""
    val = v(spec.name)
    if spec.type in ("flag", "choice") or (spec.type == "text" and not spec.required):
        return None
    latest = "" if spec.rule == "any_date" else f" AND {val} <= {today}"
    checks = {"pin": known(spec.name),
              "date": f"{val} >= DATE '{MIN_YEAR}-01-01'{latest}",
              "int": f"{val} = floor({val}) AND {val} >= 0",
              "share": f"{val} >= 0 AND {val} <= 1"}.get(spec.type, "TRUE")
    if spec.rule == "quantity":
        checks = f"{val} >= 0"
    elif spec.rule in ("price", "agmark_price"):
        checks = f"{val} > 0"
    elif spec.rule == "percent":
        checks = f"{val} >= 0 AND {val} < 100"
    present = f"{val} IS NOT NULL AND {checks}"
    if spec.required:
        return f"({present})"
    return f"(({val} IS NULL AND {col} IS NULL) OR ({present}))"


def raw_json_expr(columns, alias: str = "") -> str:
    """The row's raw cells as one JSON object, keyed by the file's column names."""
    pre = f"{alias}." if alias else ""
    return "json_object(" + ", ".join(
        f"{literal(c)}, {pre}{ident(c)}" for c in columns) + ")"


def value_expr(mapping: ColumnMapping, alias: str = "", reason_alias: str = "") -> str:
    """The raw cell of the field named in `__mp_reason` ('<field>|<code>'); cells are read
    from `alias`, the reason from `reason_alias`."""
    pre = f"{alias}." if alias else ""
    rpre = f"{reason_alias}." if reason_alias else pre
    whens = " ".join(f"WHEN {literal(f)} THEN {pre}{ident(c)}"
                     for f, c in mapping.columns.items())
    return (f"CASE split_part({rpre}__mp_reason, '|', 1) {whens} END" if whens
            else "CAST(NULL AS VARCHAR)")


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def total_row_exprs(raw_columns, candidates: list[str] | None = None
                    ) -> tuple[str, str]:
    """(all cells blank, the total label when the row is a total row) over the raw
    columns, for a row that is already bad (or whose `candidates` columns hold a total
    label: a footer that would pass the field rules, e.g. a catalog's 'Total' SKU)."""
    cells = [ident(c) for c in raw_columns]
    blank = [f"coalesce(trim({c}, ' \t') = '', TRUE)" for c in cells]
    all_blank = " AND ".join(blank) or "TRUE"
    if len(cells) > TOTAL_MAX_COLUMNS:
        return all_blank, "CAST(NULL AS VARCHAR)"
    pattern = literal(TOTAL_LABEL)
    label = [f"coalesce(regexp_full_match(lower(trim({c})), {pattern}), FALSE)" for c in cells]
    numeric = [f"({b} OR {raw_number_expr(f'trim({c})')} IS NOT NULL)"
               for b, c in zip(blank, cells)]
    one_label = "(" + " + ".join(f"CAST({x} AS INTEGER)" for x in label) + ") = 1"
    rest = " AND ".join(f"({x} OR {n})" for x, n in zip(label, numeric))
    value = "coalesce(" + ", ".join(f"CASE WHEN {x} THEN trim({c}) END"
                                   for x, c in zip(label, cells)) + ")"
    return all_blank, f"CASE WHEN {one_label} AND {rest} THEN {value} END"


def stage_select(kind: str, mapping: ColumnMapping, source_sql: str,
                 date_formats: dict[str, tuple[str, ...]], raw_columns, today: date,
                 padded: bool = True, add_line: bool = True,
                 row_rules: list[tuple[str, str]] | None = None) -> str:
    """SELECT typed `__mp_v_*` columns, `__mp_reason`, and for bad rows `__mp_raw` (raw
    cells as JSON) and `__mp_value` (the offending cell), from `source_sql`, whose text
    columns are `raw_columns`. `__mp_pin_fixed` says the PIN was repaired. `add_line`
    adds an empty `__mp_line` column (filled later for bad rows; a frame source brings
    its own). Dates after `today` are future dates (a literal: DuckDB would otherwise
    work out `current_date` in the session's time zone for every row). `padded=False`
    says no cell starts or ends with a space, so text is not trimmed. `row_rules` are
    (condition over the typed `__mp_v_*` columns, '<mapped field>|<code>') pairs checked
    after every field's own rules (rules across fields, or against the warehouse)."""
    today = f"DATE '{today.isoformat()}'"
    a_cols, b_cols, whens, drop, fast = [], [], [], [], []
    for spec in fields(kind):
        src = mapping.source(spec.name)
        if src is None:
            continue
        col = ident(src)
        a = layer_a(spec, col, padded)
        if a:
            a_cols.append(a)
        if spec.type == "date":
            drop.append(tok(spec.name))
        if spec.type in ("number", "int", "share", "choice"):
            drop.append(num(spec.name))
        if spec.type == "pin":
            drop.append(known(spec.name))
        b_cols.extend(layer_b(spec, col, date_formats.get(spec.name, DATE_FORMATS), padded))
        for cond, code in rules(kind, spec, col, mapping, today):
            whens.append(f"WHEN {cond} THEN '{spec.name}|{code}'")
        ok = passes(spec, col, today)
        if ok:
            fast.append(ok)
    for cond, reason in row_rules or ():
        whens.append(f"WHEN {cond} THEN {literal(reason)}")
    if fast and not row_rules:   # a row passing every field may still break a row rule
        whens.insert(0, f"WHEN {' AND '.join(fast)} THEN NULL")
    reason = f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"
    layer1 = f"SELECT __src.*{''.join(', ' + c for c in a_cols)} FROM ({source_sql}) __src"
    layer2 = f"SELECT __a.*{''.join(', ' + c for c in b_cols)} FROM ({layer1}) __a"
    exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    layer3 = f"SELECT *{exclude}, {reason} AS __mp_reason FROM ({layer2}) __b"
    bad = "__mp_reason IS NOT NULL"
    pin = mapping.source("pin_code")
    # Counted for good rows only, whose PIN is six digits: it was repaired exactly when
    # the cell was not six characters long (pin_expr keeps those as they are).
    fixed = (f", strlen({ident(pin)}) <> 6 AS __mp_pin_fixed" if pin
             else ", FALSE AS __mp_pin_fixed")
    raw = ", ".join(ident(c) for c in raw_columns)
    # Blank and total rows are told apart only among rows that are bad already (a blank
    # row always is; a footer is unless it could pass as a catalog or stock line).
    all_blank, total = total_row_exprs(raw_columns)
    maybe_total = bad
    if kind in ("catalog", "inventory") and mapping.source("sku_id"):
        sku = ident(mapping.source("sku_id"))
        maybe_total = (f"({bad} OR coalesce(regexp_full_match(lower(trim({sku})), "
                       f"{literal(TOTAL_LABEL)}), FALSE))")
    return (f"SELECT * EXCLUDE ({raw}), CASE WHEN {bad} THEN {raw_json_expr(raw_columns)} "
            f"END AS __mp_raw, CASE WHEN {bad} THEN {value_expr(mapping)} END AS __mp_value"
            f"{fixed}{', CAST(NULL AS BIGINT) AS __mp_line' if add_line else ''}, "
            f"CASE WHEN {bad} THEN {all_blank} END AS __mp_blank, "
            f"CASE WHEN {maybe_total} AND NOT ({all_blank}) THEN {total} END AS __mp_total "
            f"FROM ({layer3}) __c")
