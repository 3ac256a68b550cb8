"""Typed ingest errors and the row-level reason codes written to `quarantine`.

Every error a user can meet says what rule failed, shows the offending value, and says
what to do. Errors carry their evidence (`evidence`: a small DataFrame or dict) so a page
can show a table instead of a traceback.
"""
from __future__ import annotations

from engine.errors import MicroPulseError


class IngestError(MicroPulseError):
    """Base class: a file or request that cannot be ingested as asked."""

    code = "ingest_error"


class UnreadableFileError(IngestError):
    """The file cannot be read at all (not a table, corrupt, empty...)."""

    code = "unreadable_file"


class EmptyFileError(UnreadableFileError):
    code = "empty_file"


class SheetNotFoundError(IngestError):
    code = "sheet_not_found"

    def __init__(self, sheet: str, sheets: list[str]):
        self.sheet, self.sheets = sheet, list(sheets)
        super().__init__(
            f"The workbook has no sheet named '{sheet}'. Its sheets are: "
            + ", ".join(f"'{s}'" for s in sheets) + ". Choose one of these.",
            evidence={"sheets": self.sheets})


class MissingColumnsError(IngestError):
    """Required columns could not be matched to any column in the file."""

    code = "missing_columns"

    def __init__(self, kind: str, missing: list[str], found: list[str]):
        self.kind, self.missing, self.found = kind, list(missing), list(found)
        shown = ", ".join(f"'{c}'" for c in found[:30]) + (" ..." if len(found) > 30 else "")
        # 'date or date_from+date_to' (one of several fields) -> "'date' or 'date_from'
        # and 'date_to'"
        need = ", ".join(" or ".join(" and ".join(f"'{f}'" for f in alt.split("+"))
                                     for alt in c.split(" or ")) for c in missing)
        super().__init__(
            f"This {kind} file has no column for {need}. The file's columns are: {shown}. "
            "Rename the column in the file, or map it by hand (e.g. --map qty=quantity).",
            evidence={"missing": self.missing, "found": self.found})


class MappingError(IngestError):
    """A hand-made column mapping names a column or field that does not exist."""

    code = "bad_mapping"


class BatchNotFoundError(IngestError):
    code = "batch_not_found"
    http_status = 404


class RollbackError(IngestError):
    code = "rollback_refused"
    http_status = 409


# Row-level reasons: code -> sentence. `{col}` is the file's column name, `{value}` the
# raw value as uploaded. Used for quarantine.reason and for the report's issue lines.
REASONS: dict[str, str] = {
    "malformed_line": "the line does not split into the file's columns",
    "line_too_long": "the line is longer than the line cap (MICROPULSE_MAX_LINE_MB)",
    # Lines set aside but not counted as quarantined: they have their own counts.
    "blank_line": "the line is blank (no cell holds anything)",
    "total_row": "the row holds a total label ('Total', 'Grand Total', 'Sub total') and sums",
    "duplicate_line": "the line repeats an earlier line exactly",
    "missing_value": "is blank",
    "not_numeric": "is not a number",
    "negative_quantity": "is negative but the row is not marked as a return",
    "price_not_positive": "is zero or negative (prices must be above zero)",
    "price_not_reported": "is blank or 'NR' (price not reported)",
    "bad_date": "is not a date in a known format (DD-MM-YYYY, DD/MM/YYYY, DD-Mon-YY, YYYY-MM-DD)",
    "future_date": "is a date in the future",
    "pin_not_6_digits": "is not a 6-digit PIN code",
    "pin_invalid": "is not a valid PIN code (PIN codes never start with 0)",
    "pin_unknown": "is not a PIN code in India Post's directory",
    "duplicate_in_file": "repeats a row key that appears earlier in the same file",
    "not_integer": "is not a whole number",
    "negative_value": "is negative",
    "bad_flag": "is not a flag (1/0, yes/no, true/false, Y/N) or a share between 0 and 1",
    "flag_out_of_range": "is outside 0 to 1 (a flag is 0 or 1, a share a fraction such as 0.16)",
    # plan uploads
    "missing_product": "is blank and so is the category (a plan row names a SKU or a category)",
    "unknown_sku": "is not a SKU in the catalog (upload it in the SKU catalog first)",
    "unknown_category": "is not a category of any SKU in the catalog",
    "unknown_pin": "is not one of the warehouse's PIN codes (store locations or sales)",
    "unknown_city": "is not a city of any of the warehouse's store locations",
    "unknown_state": "is not a state of any of the warehouse's store locations",
    "conflicting_dates": "holds a date, but the row's from/to dates say otherwise (give a "
                         "single date or a range)",
    "dates_reversed": "is before the row's start date",
    "range_too_long": "is more than 366 days after the row's start date",
    "discount_out_of_range": "is not a discount from 0 to under 100 percent",
    "price_above_mrp": "is above the SKU's MRP",
    "unknown_promo_type": "is not a promotion type (none, price_cut, feature, display, "
                          "bundle, other, or words such as BOGO, leaflet, TPR; several "
                          "joined as in 'display + feature'; 'none' with nothing else)",
    "kind_not_yes_no": "is not yes or no (a planned promotion kind is 1/0, yes/no, Y/N)",
    "conflicting_promo_type": "is 'none', but the row's feature / display / tpr columns "
                              "plan a promotion",
    # competitor price uploads
    "missing_item": "is blank and so is the item code (a competitor row names the item)",
    "missing_place": "is blank and so is the city (a competitor price is for a PIN code or "
                     "a city)",
    "empty_plan_row": "is blank, and so are the row's other plan columns (a plan row needs "
                      "a price, a discount, a promotion type or a "
                      "feature / display / tpr value)",
}

# How the report names the values failing one rule: (one of them, several of them).
REASON_GROUPS: dict[str, tuple[str, str]] = {
    "malformed_line": ("line that does not split into the file's columns",
                       "lines that do not split into the file's columns"),
    "line_too_long": ("line longer than the line cap", "lines longer than the line cap"),
    "blank_line": ("blank line", "blank lines"),
    "total_row": ("total row", "total rows"),
    "duplicate_line": ("line that repeats an earlier line exactly",
                       "lines that repeat an earlier line exactly"),
    "missing_value": ("blank value", "blank values"),
    "not_numeric": ("non-numeric value", "non-numeric values"),
    "negative_quantity": ("negative value on a row not marked as a return",
                          "negative values on rows not marked as returns"),
    "price_not_positive": ("zero or negative price", "zero or negative prices"),
    "price_not_reported": ("blank or 'NR' price", "blank or 'NR' prices"),
    "bad_date": ("value that is not a date", "values that are not dates"),
    "future_date": ("date in the future", "dates in the future"),
    "pin_not_6_digits": ("value that is not a 6-digit PIN code",
                         "values that are not 6-digit PIN codes"),
    "pin_invalid": ("value that is not a valid PIN code", "values that are not valid PIN codes"),
    "pin_unknown": ("PIN code not in India Post's directory",
                    "PIN codes not in India Post's directory"),
    "duplicate_in_file": ("repeated row (same key as an earlier row)",
                          "repeated rows (same key as an earlier row)"),
    "not_integer": ("value that is not a whole number", "values that are not whole numbers"),
    "negative_value": ("negative value", "negative values"),
    "bad_flag": ("value that is not a flag (1/0, yes/no, true/false, Y/N) or a share 0-1",
                 "values that are not flags (1/0, yes/no, true/false, Y/N) or shares 0-1"),
    "flag_out_of_range": ("value outside 0 to 1", "values outside 0 to 1"),
    "missing_product": ("row without a SKU or a category", "rows without a SKU or a category"),
    "unknown_sku": ("SKU not in the catalog", "SKUs not in the catalog"),
    "unknown_category": ("category not in the catalog", "categories not in the catalog"),
    "unknown_pin": ("PIN code that is not one of the warehouse's store or sales PIN codes",
                    "PIN codes that are not the warehouse's store or sales PIN codes"),
    "unknown_city": ("city without a store location", "cities without a store location"),
    "unknown_state": ("state without a store location", "states without a store location"),
    "conflicting_dates": ("date that contradicts the row's from/to dates",
                          "dates that contradict the row's from/to dates"),
    "dates_reversed": ("end date before the start date", "end dates before the start date"),
    "range_too_long": ("date range longer than 366 days", "date ranges longer than 366 days"),
    "discount_out_of_range": ("discount outside 0 to under 100 percent",
                              "discounts outside 0 to under 100 percent"),
    "price_above_mrp": ("price above the SKU's MRP", "prices above the SKU's MRP"),
    "unknown_promo_type": ("value that is not a promotion type",
                           "values that are not promotion types"),
    "kind_not_yes_no": ("promotion kind that is not yes or no",
                        "promotion kinds that are not yes or no"),
    "conflicting_promo_type": ("row whose promotion type 'none' contradicts its kind columns",
                               "rows whose promotion type 'none' contradicts their kind "
                               "columns"),
    "empty_plan_row": ("row without a price, a discount or a promotion type",
                       "rows without a price, a discount or a promotion type"),
    "missing_item": ("row without an item name or code", "rows without an item name or code"),
    "missing_place": ("row without a PIN code or a city", "rows without a PIN code or a city"),
}


# Codes whose lines are set aside with a count of their own (blank lines, total rows)
# or as duplicates, rather than quarantined.
SET_ASIDE = ("blank_line", "total_row", "duplicate_line")


def issue_sentence(column: str | None, code: str, count: int, first_line: int | None,
                   first_value: str | None, unit: str = "line") -> str:
    """"Column 'qty' has 312 non-numeric values, first on line 17: 'ten'" - or, for one,
    "Column 'qty' has 1 non-numeric value, on line 17: 'ten'" (`unit` is 'line' for a CSV,
    'row' for a sheet or a Parquet file)."""
    one, many = REASON_GROUPS.get(code, (code, code))
    what = one if count == 1 else many
    where = (f", {'' if count == 1 else 'first '}{'on' if unit == 'line' else 'in'} "
             f"{unit} {first_line}" if first_line is not None else "")
    shown = "" if first_value is None else f": '{_short(first_value)}'"
    if column:
        return f"Column '{column}' has {count:,} {what}{where}{shown}"
    return f"{count:,} {what}{where}{shown}"


def _short(text: str, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
