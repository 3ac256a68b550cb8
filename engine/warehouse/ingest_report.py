"""What an upload's report says about the lines it did not load, inside the batch
transaction: every such line into `quarantine` with its line number and reason (lines
set aside - blank lines, total rows, exact repeats - under codes of their own), one issue
per kind of problem, and notes on rows loaded with a doubt (a bill item scanned twice
with other values, a mandi price without its min or max)."""
from __future__ import annotations

import json

from engine.ingest.errors import REASONS, SET_ASIDE, issue_sentence
from engine.ingest.limits import SETTINGS, size_text
from engine.ingest.mapping import ColumnMapping, fields
from engine.warehouse.ingest_sql import v
from engine.warehouse.ingest_stage import LineLayout, Reject, StageSource


def _good(alias: str = "s") -> str:
    return f"{alias}.__mp_reason IS NULL"


def at(n: int, unit: str, line: int) -> str:
    """Where: 'line 7' for one, 'first: line 7' for several."""
    return f"{unit} {line}" if n == 1 else f"first: {unit} {line}"


BLANK, TOTAL, DUPLICATE = "|blank_line", "|total_row", "|duplicate_line"


def wanted_lines(cur, kind: str, mapping: ColumnMapping) -> None:
    """Temp table ingest_want: good rows whose line a sentence quotes (the rows a
    duplicate line repeats, the first repeated bill item and its first copy, a mandi
    file's first row without a min or max price)."""
    cur.execute("CREATE TEMP TABLE ingest_want (rid BIGINT)")
    if _exists(cur, "ingest_dups"):
        cur.execute("INSERT INTO ingest_want SELECT orig FROM ingest_dups")
    if _exists(cur, "ingest_repeats"):
        cur.execute("INSERT INTO ingest_want SELECT unnest([rid, orig]) FROM (SELECT rid, "
                    "orig FROM ingest_repeats ORDER BY rid LIMIT 1)")
    gap = _price_gap(mapping)
    if kind == "mandi" and gap:
        cur.execute(f"INSERT INTO ingest_want SELECT min(rowid) FROM ingest_stage s "
                    f"WHERE {_good()} AND {gap}")


def _exists(cur, table: str) -> bool:
    return bool(cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                            "AND temporary", [table]).fetchone()[0])


def _price_gap(mapping: ColumnMapping) -> str | None:
    """SQL: a mandi row with a modal price but no min or max price (of those it maps)."""
    gaps = [f"s.{v(c)} IS NULL" for c in ("min_price", "max_price") if mapping.source(c)]
    return "(" + " OR ".join(gaps) + ")" if gaps else None


_SAME = {"sales": "the same bill number and SKU", "catalog": "the same SKU, nothing changed",
         "inventory": "the same SKU and PIN code, nothing changed",
         "mandi": "the same market, commodity, variety, grade and day",
         "plan": "already stored",
         "competitor": "the same competitor, item, place and day"}


def already_loaded(kind: str, mapping: ColumnMapping, n: int) -> dict:
    same = _SAME[kind]
    if kind == "sales" and not mapping.source("transaction_id"):
        same = "the same SKU, PIN code, store and day"
    return {"column": None, "code": "already_loaded", "count": int(n), "first_line": None,
            "first_value": None,
            "sentence": f"{n:,} {'rows are' if n != 1 else 'row is'} already in the "
                        f"warehouse from an earlier upload ({same}): skipped as "
                        f"duplicate{'s' if n != 1 else ''}"}


def row_warnings(cur, kind: str, mapping: ColumnMapping, unit: str, dups: dict,
                  layout: LineLayout) -> list[dict]:
    """Rows loaded with a note: the same bill item twice with other values, and mandi
    rows without a min or max price."""
    out = []
    if dups.get("repeats"):
        line, orig_line = cur.execute(
            "SELECT a.__mp_line, b.__mp_line FROM (SELECT * FROM ingest_repeats "
            "ORDER BY rid LIMIT 1) r JOIN ingest_stage a ON a.rowid = r.rid "
            "JOIN ingest_stage b ON b.rowid = r.orig").fetchone()
        n = dups["repeats"]
        out.append({"code": "repeated_item", "count": n, "first_line": line,
                    "sentence": f"{n:,} {'rows repeat' if n != 1 else 'row repeats'} the "
                                "bill number and SKU of an earlier row with other values "
                                f"({at(n, unit, line)}, like {unit} {orig_line}): each was "
                                "loaded as a sale of its own "
                                "(one item scanned twice on a bill is two sales)"})
    gap = _price_gap(mapping)
    if kind == "mandi" and gap:
        n, line = cur.execute(f"SELECT count(*), min(s.__mp_line) FROM ingest_stage s "
                              f"WHERE {_good()} AND {gap}").fetchone()
        if n:
            out.append({"code": "price_range_missing", "count": int(n), "first_line": line,
                        "sentence": f"{n:,} {'rows have' if n != 1 else 'row has'} a "
                                    "modal price but a blank or 'NR' min or max price "
                                    f"({at(n, unit, line)}): loaded with "
                                    "the modal price, the missing price left blank"})
    return out


def quarantine(cur, bid: str, kind: str, mapping: ColumnMapping, src: StageSource,
                rejects: list[Reject], empty: list[int]) -> list[dict]:
    """Copy every row not loaded to `quarantine` with its line and reason (blank lines,
    total rows and duplicate lines too, under their own codes, though they are counted
    apart); return one issue per (field, reason) and one per kind of set-aside line."""
    unit = src.unit
    rows = []
    for spec in fields(kind):
        col = mapping.source(spec.name)
        if col is None:
            continue
        for code, sentence in REASONS.items():
            if code not in SET_ASIDE:
                rows.append((f"{spec.name}|{code}", code, col, f"Column '{col}' {sentence}"))
    cur.execute("CREATE TEMP TABLE ingest_reason_text AS SELECT unnest(?::VARCHAR[]) AS reason, "
                "unnest(?::VARCHAR[]) AS code, unnest(?::VARCHAR[]) AS col, "
                "unnest(?::VARCHAR[]) AS text", [list(c) for c in zip(*rows)] if rows
                else [[], [], [], []])
    cur.execute(
        "INSERT INTO quarantine SELECT ?, s.__mp_line, t.code, "
        "t.text || coalesce(': ''' || s.__mp_value || '''', ' (blank)'), s.__mp_raw "
        "FROM ingest_stage s JOIN ingest_reason_text t ON t.reason = s.__mp_reason",
        [bid])
    cur.execute(
        "SELECT t.col AS column, t.code, count(*) AS count, min(s.__mp_line) AS first_line, "
        "arg_min(s.__mp_value, s.__mp_line) AS first_value FROM ingest_stage s "
        "JOIN ingest_reason_text t ON t.reason = s.__mp_reason GROUP BY ALL "
        "ORDER BY count DESC, first_line")
    names = [d[0] for d in cur.description]
    issues = [dict(zip(names, row)) for row in cur.fetchall()]
    for it in issues:
        it["first_line"] = None if it["first_line"] is None else int(it["first_line"])
        it["count"] = int(it["count"])
        it["sentence"] = issue_sentence(it["column"], it["code"], it["count"],
                                        it["first_line"], it["first_value"], unit)
    issues += _malformed(cur, bid, src, [r for r in rejects if r.kind == "malformed"])
    issues += _long_lines(cur, bid, src)
    issues += _set_aside(cur, bid, src, rejects, empty)
    return issues


def insert_quarantined(cur, bid: str, lines: list[int], code: str, reasons: list[str],
                       raws: list[str | None]) -> None:
    """Quarantine rows of batch `bid` in one statement: the file's `lines` with the reason
    `code`, each its sentence (`reasons`) and raw text (`raws`)."""
    if lines:
        cur.execute("INSERT INTO quarantine SELECT ?, unnest(?::BIGINT[]), ?, "
                    "unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                    [bid, lines, code, reasons, raws])


def _malformed(cur, bid: str, src: StageSource, bad: list[Reject]) -> list[dict]:
    if not bad:
        return []
    ncol = len(src.columns)
    reasons = []
    for r in bad:
        split = f"does not split into the file's {ncol} columns ({r.error_message})"
        if (r.last_line or r.line) > r.line:
            reasons.append(f"Lines {r.line}-{r.last_line} were read as one row (a quote "
                           f"opened on line {r.line} is not closed before line "
                           f"{r.last_line}), which {split}")
        else:
            reasons.append(f"The line {split}")
    insert_quarantined(cur, bid, [r.line for r in bad], "malformed_line", reasons,
             [json.dumps({"line": r.csv_line}, ensure_ascii=False) for r in bad])
    first = min(bad, key=lambda r: r.line)
    shown = (str(first.csv_line).splitlines() or [""])[0][:200]
    sentence = issue_sentence(None, "malformed_line", len(bad), first.line, shown)
    spans = [r for r in bad if (r.last_line or r.line) > r.line]
    if spans:
        s = spans[0]
        sentence += (f"; lines {s.line}-{s.last_line} were read as one row because a quote "
                     f"(\") opened on line {s.line} is not closed before line {s.last_line}")
    return [{"column": None, "code": "malformed_line", "count": len(bad),
             "first_line": first.line, "first_value": shown,
             "sentence": sentence}]


def _long_lines(cur, bid: str, src: StageSource) -> list[dict]:
    long = sorted(src.long_lines, key=lambda x: x.line)
    if not long:
        return []
    cap = f"{size_text(src.max_line_bytes)} ({SETTINGS['max_line_bytes']})"
    insert_quarantined(cur, bid, [x.line for x in long], "line_too_long",
             [f"The line is {size_text(x.length)} long, over the {cap} line cap: "
              "quarantined whole, not loaded" for x in long],
             [json.dumps({"line": x.preview + "…"}, ensure_ascii=False) for x in long])
    first, n = long[0], len(long)
    return [{"column": None, "code": "line_too_long", "count": n, "first_line": first.line,
             "first_value": first.preview[:60],
             "sentence": f"{n:,} line{'s are' if n != 1 else ' is'} longer than the {cap} "
                         f"line cap ({at(n, 'line', first.line)}, "
                         f"{size_text(first.length)}): "
                         "quarantined whole, not loaded"}]


def _set_aside(cur, bid: str, src: StageSource, rejects: list[Reject],
               empty: list[int]) -> list[dict]:
    """Blank lines, total rows and duplicate lines into `quarantine` under their own codes,
    and one issue for each kind there is."""
    unit, out = src.unit, []
    # Blank: staged rows whose every cell is empty, lines of only spaces or delimiters
    # (the CSV reader rejects those), empty lines (it skips those), blank sheet rows.
    cur.execute("INSERT INTO quarantine SELECT ?, __mp_line, 'blank_line', ?, __mp_raw "
                f"FROM ingest_stage WHERE __mp_reason = '{BLANK}'",
                [bid, f"The {unit} is blank (every cell is empty)"])
    others = sorted([r.line for r in rejects if r.kind == "blank"] + list(empty)
                    + list(src.blank_rows))
    insert_quarantined(cur, bid, others, "blank_line", [f"The {unit} is blank"] * len(others),
             [None] * len(others))
    n, first = cur.execute("SELECT count(*), min(line_no) FROM quarantine WHERE batch_id = ? "
                           "AND reason_code = 'blank_line'", [bid]).fetchone()
    if n:
        out.append({"column": None, "code": "blank_line", "count": int(n),
                    "first_line": int(first), "first_value": None,
                    "sentence": f"{n:,} blank {unit}{'s' if n != 1 else ''} "
                                f"({at(n, unit, first)}): nothing to load, counted as blank"})
    # Totals: a label such as 'Grand Total' beside sums.
    cur.execute("INSERT INTO quarantine SELECT ?, __mp_line, 'total_row', 'A total row (''' "
                "|| __mp_total || ''' and sums), not data: not loaded', __mp_raw "
                f"FROM ingest_stage WHERE __mp_reason = '{TOTAL}'", [bid])
    tot = [r for r in rejects if r.kind == "total"]
    insert_quarantined(cur, bid, [r.line for r in tot], "total_row",
             [f"A total row ('{r.label}' and sums), not data: not loaded" for r in tot],
             [json.dumps({"line": r.csv_line}, ensure_ascii=False) for r in tot])
    n, first, label = cur.execute(
        "SELECT count(*), min(q.line_no), arg_min(q.reason, q.line_no) FROM quarantine q "
        "WHERE batch_id = ? AND reason_code = 'total_row'", [bid]).fetchone()
    if n:
        label = label.removeprefix("A total row ('").split("' and sums)")[0]
        out.append({"column": None, "code": "total_row", "count": int(n),
                    "first_line": int(first), "first_value": label,
                    "sentence": f"{n:,} total row{'s' if n != 1 else ''} "
                                f"({at(n, unit, first)}, '{label}' and sums): a footer, "
                                "not data; not loaded"})
    # Exact repeats of an earlier line.
    if _exists(cur, "ingest_dups"):
        cur.execute(
            "INSERT INTO quarantine SELECT ?, s.__mp_line, 'duplicate_line', 'Repeats ' || ? "
            "|| ' ' || o.__mp_line || ' exactly: skipped as a duplicate', s.__mp_raw "
            "FROM ingest_dups d JOIN ingest_stage s ON s.rowid = d.rid "
            "JOIN ingest_stage o ON o.rowid = d.orig", [bid, unit])
        n, first, orig = cur.execute(
            "SELECT count(*), min(s.__mp_line), arg_min(o.__mp_line, s.__mp_line) "
            "FROM ingest_dups d JOIN ingest_stage s ON s.rowid = d.rid "
            "JOIN ingest_stage o ON o.rowid = d.orig").fetchone()
        if n:
            out.append({"column": None, "code": "duplicate_line", "count": int(n),
                        "first_line": int(first), "first_value": None,
                        "sentence": f"{n:,} {unit}{'s repeat' if n != 1 else ' repeats'} an "
                                    f"earlier {unit} exactly ({at(n, unit, first)} repeats "
                                    f"{unit} {orig}): skipped as "
                                    f"{'duplicates' if n != 1 else 'a duplicate'}"})
    return out
