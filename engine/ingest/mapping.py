"""Column mapping: which column of an uploaded file feeds which warehouse field.

Each kind (`sales`, `catalog`, `inventory`, `mandi`, `plan`, `competitor`) lists its fields with
aliases. A header matches a field exactly after normalisation (confidence 1.0), or by
similarity (confidence = similarity, kept when >= 0.8). The caller can override any pair.
A kind whose rows may name one of several fields (a plan row: a SKU or a category) lists
those alternatives in ONE_OF instead of marking a field required.

Every column of the file is accounted for (`ColumnMapping.accounting()`): mapped to a field
(and how), or ignored; an ignored column that looks like a field nothing else feeds carries
that field as a suggestion (`suggest_field`), so a page or the command line can offer it.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from engine.ingest.errors import MappingError, MissingColumnsError

KINDS = ("sales", "catalog", "inventory", "mandi", "plan", "competitor")
FUZZY_MAX_COLUMNS = 200  # similarity matching is skipped for very wide files


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str            # text | number | int | date | pin | flag | share | choice
    required: bool = False
    aliases: tuple[str, ...] = ()
    rule: str = ""       # extra rule: quantity | price | agmark_price | percent | any_date


def _f(name, type_, required=False, aliases=(), rule=""):
    return FieldSpec(name, type_, required, tuple(aliases), rule)


FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "sales": (
        _f("transaction_id", "text", aliases=("txn_id", "transaction", "bill_no", "bill_number",
                                              "invoice_no", "invoice_number", "receipt_no",
                                              "order_id", "txn_no", "transaction_no")),
        _f("sku_id", "text", True, ("sku", "item_id", "product_id", "item_code", "sku_code",
                                     "article", "article_code", "product_code", "item")),
        _f("pin_code", "pin", True, ("pincode", "pin", "postal_code", "zip", "zipcode",
                                      "store_pincode", "store_pin", "pin_no")),
        _f("store_id", "text", aliases=("store", "store_code", "outlet", "outlet_id", "branch")),
        _f("date", "date", True, ("bill_date", "timestamp", "txn_date", "transaction_date",
                                  "sale_date", "invoice_date", "order_date", "day", "week",
                                  "week_start", "week_starting", "week_ending", "datetime")),
        _f("quantity", "number", True, ("qty", "units", "units_sold", "quantity_sold",
                                        "sold_qty", "sales_qty", "volume", "pcs"), "quantity"),
        _f("price", "number", aliases=("unit_price", "selling_price", "sp", "rate",
                                       "price_per_unit", "sale_price"), rule="price"),
        _f("revenue", "number", aliases=("amount", "sales_value", "net_amount", "value",
                                         "total", "line_total", "net_sales", "sales_amount")),
        _f("promo", "flag", aliases=("on_promo", "promotion", "is_promo", "promo_flag",
                                     "offer", "on_offer", "deal", "scheme")),
        _f("is_return", "flag", aliases=("return", "return_flag", "returned", "is_returned",
                                         "txn_type", "transaction_type", "sale_type")),
        # Promotion kinds kept apart from `promo`: 0/1 flags or shares 0..1 (e.g. the
        # share of a chain's stores with a display). Listed after the fields above, so
        # similarity matching never hands them a column those fields would take.
        _f("feature", "share", aliases=("feat", "featured", "leaflet", "circular", "flyer")),
        _f("display", "share", aliases=("disp", "display_share", "end_cap")),
        _f("tpr", "share", aliases=("tpr_only", "temporary_price_reduction", "price_cut")),
        _f("regular_price", "number", aliases=("base_price", "mrp", "list_price",
                                               "shelf_price_regular"), rule="price"),
        _f("unit_cost", "number", aliases=("cost", "wholesale", "wholesale_price", "cogs"),
           rule="price"),
    ),
    "catalog": (
        _f("sku_id", "text", True, ("sku", "item_id", "product_id", "item_code", "sku_code",
                                     "article_code", "product_code")),
        _f("name", "text", aliases=("sku_name", "item_name", "product_name", "description",
                                    "product", "title")),
        _f("category", "text", aliases=("category_name", "dept", "department", "segment")),
        _f("subcategory", "text", aliases=("sub_category", "subcat", "sub_category_name")),
        _f("brand", "text", aliases=("brand_name", "manufacturer")),
        _f("mrp", "number", aliases=("max_retail_price", "list_price"), rule="price"),
        _f("unit_cost", "number", aliases=("cost", "cost_price", "purchase_price", "cp"),
           rule="price"),
        _f("shelf_life_days", "int", aliases=("shelf_life", "shelf_life_d")),
        _f("unit_volume_l", "number", aliases=("volume_l", "unit_volume", "litres")),
        _f("supplier", "text", aliases=("vendor", "supplier_name", "vendor_name")),
    ),
    "inventory": (
        _f("sku_id", "text", True, ("sku", "item_id", "product_id", "item_code", "sku_code")),
        _f("pin_code", "pin", True, ("pincode", "pin", "postal_code", "store_pincode")),
        _f("on_hand", "number", True, ("stock", "soh", "stock_on_hand", "qty_on_hand",
                                       "closing_stock", "on_hand_qty"), "quantity"),
        _f("on_order", "number", aliases=("open_po", "in_transit", "on_order_qty"),
           rule="quantity"),
        _f("lead_time_days", "int", aliases=("lead_time", "lt_days")),
        _f("moq", "int", aliases=("min_order_qty", "minimum_order_quantity")),
        _f("case_pack", "int", aliases=("pack_size", "case_size", "units_per_case")),
        _f("snapshot_date", "date", aliases=("date", "as_of", "stock_date", "as_on_date")),
    ),
    "mandi": (
        _f("state", "text", aliases=("state_name",)),
        _f("district", "text", aliases=("district_name",)),
        _f("market", "text", True, ("market_name", "mandi", "mandi_name", "apmc")),
        _f("commodity", "text", True, ("commodity_name",)),
        _f("variety", "text"),
        _f("grade", "text"),
        _f("date", "date", True, ("arrival_date", "price_date", "reported_date")),
        _f("min_price", "number", aliases=("min_price_rs_qtl", "min_price_rs_quintal",
                                           "min_x0020_price", "minimum_price"),
           rule="agmark_price"),
        _f("max_price", "number", aliases=("max_price_rs_qtl", "max_price_rs_quintal",
                                           "max_x0020_price", "maximum_price"),
           rule="agmark_price"),
        _f("modal_price", "number", True, ("modal_price_rs_qtl", "modal_price_rs_quintal",
                                           "modal_x0020_price", "modal"), "agmark_price"),
        _f("arrivals_tonnes", "number", aliases=("arrival_tonnes", "arrivals", "arrival",
                                                 "arrivals_in_tonnes", "arrival_quantity")),
    ),
    # Planned prices and promotions: which products (a SKU or a whole category), where (a
    # PIN, a city, a state, or blank = everywhere), when (a day, or a range), and what
    # (a price, a discount and/or a promotion type). Dates may lie in the future.
    "plan": (
        _f("sku_id", "text", aliases=("sku", "item_id", "product_id", "item_code", "sku_code",
                                      "article", "article_code", "product_code", "item")),
        _f("category", "text", aliases=("category_name", "dept", "department", "segment",
                                        "product_category")),
        _f("pin_code", "pin", aliases=("pincode", "pin", "postal_code", "zip", "zipcode",
                                       "store_pincode", "store_pin", "pin_no")),
        _f("city", "text", aliases=("city_name", "town", "store_city")),
        _f("state", "text", aliases=("state_name", "store_state")),
        _f("date", "date", aliases=("day", "plan_date", "promo_date", "event_date",
                                    "price_date"), rule="any_date"),
        _f("date_from", "date", aliases=("from", "from_date", "start", "start_date",
                                         "valid_from", "effective_from", "promo_start",
                                         "starts", "begin", "begins"), rule="any_date"),
        _f("date_to", "date", aliases=("to", "to_date", "end", "end_date", "valid_to",
                                       "valid_until", "effective_to", "promo_end", "ends",
                                       "until"), rule="any_date"),
        _f("price", "number", aliases=("planned_price", "plan_price", "selling_price",
                                       "promo_price", "offer_price", "sale_price", "sp",
                                       "new_price", "unit_price"), rule="price"),
        _f("discount_pct", "number", aliases=("discount", "discount_percent",
                                              "discount_percentage", "disc", "disc_pct",
                                              "pct_off", "percent_off", "off_pct",
                                              "markdown_pct"), rule="percent"),
        _f("promo_type", "choice", aliases=("promo", "promotion", "promotion_type",
                                            "promo_kind", "mechanic", "promo_mechanic",
                                            "offer_type", "deal_type", "scheme", "offer")),
        _f("note", "text", aliases=("notes", "remarks", "remark", "comment", "comments")),
        # Yes/no columns for each promotion kind, as in a sales file (a row may set several,
        # and they add to promo_type's kinds). Listed last, so similarity matching never
        # hands them a column the fields above would take.
        _f("feature", "share", aliases=("feat", "featured", "leaflet", "circular", "flyer",
                                        "mailer", "on_feature", "in_leaflet")),
        _f("display", "share", aliases=("disp", "end_cap", "endcap", "on_display",
                                        "in_store_display")),
        _f("tpr", "share", aliases=("tpr_only", "temporary_price_reduction", "price_cut",
                                    "on_tpr")),
    ),
    # Competitors' shelf prices (a documented feed, no scraping): who, which item (their
    # name for it, or a code: our SKU id is matched directly), where (a PIN or a city),
    # when, the price and whether it was in stock.
    "competitor": (
        _f("competitor", "text", True, ("retailer", "competitor_name", "retailer_name",
                                        "chain", "seller", "source", "store_name", "rival")),
        _f("item_name", "text", aliases=("product_name", "product", "item", "item_description",
                                         "description", "title", "name", "sku_name",
                                         "product_description", "listing")),
        _f("item_code", "text", aliases=("product_code", "code", "sku", "sku_id", "ean",
                                         "barcode", "article_code", "item_id", "product_id")),
        _f("pin_code", "pin", aliases=("pincode", "pin", "postal_code", "zip", "zipcode",
                                       "store_pincode", "store_pin", "pin_no")),
        _f("city", "text", aliases=("city_name", "town", "store_city", "market_city")),
        _f("date", "date", True, ("price_date", "observed_on", "observed_date", "seen_on",
                                  "captured_on", "as_of", "day", "scraped_on", "check_date")),
        _f("price", "number", True, ("selling_price", "competitor_price", "offer_price",
                                     "sale_price", "sp", "shelf_price", "unit_price",
                                     "price_rs", "rate"), "price"),
        _f("in_stock", "share", aliases=("stock", "available", "availability", "instock",
                                        "in_stock_flag", "is_available", "stock_status")),
    ),
}

# Per kind, groups of alternatives: each group needs one alternative whose fields all
# have a column ('sku_id' or 'category'; 'date' or both 'date_from' and 'date_to').
ONE_OF: dict[str, tuple[tuple[tuple[str, ...], ...], ...]] = {
    "plan": ((("sku_id",), ("category",)),
             (("date",), ("date_from", "date_to")),
             (("price",), ("discount_pct",), ("promo_type",))),
    "competitor": ((("item_name",), ("item_code",)), (("pin_code",), ("city",))),
}
# Fields that only make sense together: mapping one needs the other.
PAIRS: dict[str, tuple[tuple[str, str], ...]] = {"plan": (("date_from", "date_to"),)}

# The vocabulary of a `choice` field: normalised text (lower case, anything but letters
# and digits as one space) -> value, and regular expressions tried after the words.
PROMO_TYPES = ("none", "price_cut", "feature", "display", "bundle", "other")
CHOICES: dict[str, dict[str, str]] = {"promo_type": {
    **{w: "none" for w in ("", "none", "no", "0", "nil", "na", "n a", "n", "false",
                           "no promo", "no promotion", "regular", "normal", "everyday")},
    **{w: "price_cut" for w in ("price cut", "price cuts", "pricecut", "tpr",
                                "temporary price reduction", "discount", "discounted",
                                "price off", "priceoff", "price drop", "price reduction",
                                "markdown", "mark down", "rollback", "cut", "off",
                                "percent off", "pct off", "flat off", "special price")},
    **{w: "feature" for w in ("feature", "featured", "leaflet", "mailer", "ad", "ads",
                              "advert", "advertisement", "advertised", "flyer", "flier",
                              "circular", "catalogue", "catalog", "handbill", "pamphlet",
                              "newspaper", "newspaper ad", "print ad", "insert")},
    **{w: "display" for w in ("display", "displays", "disp", "end cap", "endcap",
                              "end caps", "gondola end", "floor display", "stack",
                              "secondary display", "shelf talker", "visibility",
                              "in store display", "instore display")},
    **{w: "bundle" for w in ("bundle", "bundled", "bogo", "bogof", "bxgy", "combo",
                             "combo offer", "combo pack", "multibuy", "multi buy",
                             "buy one get one", "buy one get one free", "buy 1 get 1",
                             "buy 1 get 1 free", "buy 2 get 1", "buy 2 get 1 free",
                             "buy two get one", "buy two get one free", "free gift")},
    **{w: "other" for w in ("other", "others", "misc", "miscellaneous", "sampling",
                            "coupon", "cashback", "cash back", "loyalty", "loyalty points",
                            "contest")},
}}
CHOICE_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {"promo_type": (
    (r"b[0-9]+ ?g[0-9]+( ?f| free)?", "bundle"),                     # B2G1, b1g1f
    (r"buy ([0-9]+|one|two|three|four|five) get ([0-9]+|one|two|three|four|five)"
     r"( free)?", "bundle"),
    (r"[0-9]+ (for|plus) [0-9]+|[0-9]+ [0-9]+ free|[0-9]+ [0-9]+", "bundle"),  # 3 for 2, 1+1
    (r"([0-9]+ )?(percent |pct )?off|flat [0-9]+( off)?", "price_cut"),    # 10% off
)}


# Choice fields whose cell may combine several values ('Display + Feature', 'TPR, leaflet',
# 'display and feature'): the separators between the parts (on the lower-cased cell). The
# whole cell is looked up first, so a value containing a separator ('buy 1 + get 1', '1+1')
# stays one value. A combination is stored as its values in the vocabulary's order joined
# by '+' ('feature+display'); 'none' cannot be combined with a promotion.
MULTI_CHOICE: dict[str, str] = {
    "promo_type": r"\s*(?:\+|,|&|/|;|\band\b|\bwith\b|\bplus\b)\s*"}
MULTI_ORDER: dict[str, tuple[str, ...]] = {"promo_type": PROMO_TYPES}
MULTI_JOIN = "+"


def _choice_key(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split())


def _one_choice(field_name: str, key: str) -> str | None:
    if key in CHOICES[field_name]:
        return CHOICES[field_name][key]
    for pattern, value in CHOICE_PATTERNS.get(field_name, ()):
        if re.fullmatch(pattern, key):
            return value
    return None


def choice_of(field_name: str, text: str | None) -> str | None:
    """A `choice` field's value for a cell ('B2G1' -> 'bundle'; 'Display + Leaflet' ->
    'feature+display' for a MULTI_CHOICE field); None when the cell is blank or not in the
    vocabulary (the SQL in ingest_sql.choice_expr does the same)."""
    if text is None or not str(text).strip():
        return None
    one = _one_choice(field_name, _choice_key(text))
    if one is not None or field_name not in MULTI_CHOICE:
        return one
    parts = [p for p in re.split(MULTI_CHOICE[field_name], str(text).lower()) if p.strip()]
    values = [_one_choice(field_name, _choice_key(p)) for p in parts]
    if len(values) < 2 or None in values or ("none" in values and len(set(values)) > 1):
        return None
    return MULTI_JOIN.join(x for x in MULTI_ORDER[field_name] if x in values)


def choice_parts(value: str | None) -> set[str]:
    """The values a stored (possibly combined) choice holds: 'feature+display' ->
    {'feature', 'display'}; None -> set()."""
    return set(str(value).split(MULTI_JOIN)) if value is not None else set()


def fields(kind: str) -> tuple[FieldSpec, ...]:
    if kind not in FIELDS:
        raise MappingError(f"Unknown upload kind '{kind}'. Choose one of: {', '.join(KINDS)}.")
    return FIELDS[kind]


def normalise(name: str) -> str:
    """'Min Price (Rs./Quintal)' -> 'min_price_rs_quintal'; 'Min_x0020_Price' -> 'min_price'."""
    text = str(name).replace("_x0020_", "_").strip().lower()
    text = re.sub(r"[^0-9a-z]+", "_", text)
    return text.strip("_")


@dataclass(frozen=True)
class ColumnMapping:
    """field -> source column, with a confidence per field (1.0 exact, 'user' overrides).
    `source_columns` are all the file's columns in order; `how` says how each field was
    matched (exact | similar | user); `user_ignored` are columns mapped to nothing by hand."""

    kind: str
    columns: dict[str, str]
    confidence: dict[str, float] = field(default_factory=dict)
    source_columns: tuple[str, ...] = ()
    how: dict[str, str] = field(default_factory=dict)
    user_ignored: tuple[str, ...] = ()

    def source(self, field_name: str) -> str | None:
        return self.columns.get(field_name)

    @property
    def ignored(self) -> tuple[str, ...]:
        """The file's columns that feed no field, in the file's order."""
        used = set(self.columns.values())
        return tuple(c for c in self.source_columns if c not in used)

    def as_rows(self) -> list[dict]:
        """One row per field, for display: field, source column, confidence, required."""
        return [{"field": f.name, "column": self.columns.get(f.name),
                 "confidence": self.confidence.get(f.name), "required": f.required}
                for f in fields(self.kind)]

    def accounting(self) -> list[dict]:
        """One entry per column of the file, in the file's order: `column`, `status`
        (mapped | ignored), `field` it feeds, `match` (exact | similar | user; 'user' on an
        ignored column = ignored as asked), `confidence`, and for an ignored column the
        `suggested_field` it looks like (one no other column feeds), else None."""
        by_column = {src: dst for dst, src in self.columns.items()}
        free = {f.name for f in fields(self.kind)} - set(self.columns)
        wide = len(self.source_columns) > FUZZY_MAX_COLUMNS
        out = []
        for col in self.source_columns:
            dst = by_column.get(col)
            if dst is not None:
                out.append({"column": col, "status": "mapped", "field": dst,
                            "match": self.how.get(dst), "confidence": self.confidence.get(dst),
                            "suggested_field": None})
                continue
            out.append({"column": col, "status": "ignored", "field": None,
                        "match": "user" if col in self.user_ignored else None,
                        "confidence": None,
                        "suggested_field": suggest_field(self.kind, col, free, similar=not wide)})
        return out


SUGGEST_SIMILARITY = 0.75


def suggest_field(kind: str, column: str, free: set[str], similar: bool = True) -> str | None:
    """The field among `free` that an ignored column most likely holds: one whose name or
    alias equals the column's normalised name, or appears in it as whole words
    ('display_flag' -> display), or (when `similar`) is at least 75% similar to it. None
    when no free field comes close."""
    name = normalise(column)
    if not name:
        return None
    padded = f"_{name}_"
    best, score = None, 0.0
    for spec in fields(kind):
        if spec.name not in free:
            continue
        for key in (spec.name, *spec.aliases):
            if name == key:
                s = 1.0
            elif len(key) >= 3 and f"_{key}_" in padded:
                s = 0.9
            elif similar:
                s = difflib.SequenceMatcher(None, name, key).ratio()
            else:
                continue
            if s > score:
                best, score = spec.name, s
    return best if score >= SUGGEST_SIMILARITY else None


def detect_mapping(kind: str, columns: list[str],
                   overrides: dict[str, str] | None = None) -> ColumnMapping:
    """Match the file's columns to `kind`'s fields. `overrides` maps source -> field
    (as typed on the command line, `--map qty=quantity`); a field mapped to '' or None
    is left unmapped. Raises MissingColumnsError when a required field has no column."""
    mapping = match_columns(kind, columns, overrides)
    missing = [f.name for f in fields(kind) if f.required and f.name not in mapping.columns]
    have = set(mapping.columns)
    for group in ONE_OF.get(kind, ()):
        if not any(set(alt) <= have for alt in group):
            missing.append(" or ".join("+".join(alt) for alt in group))
    for a, b in PAIRS.get(kind, ()):
        if (a in have) != (b in have):
            missing.append(b if a in have else a)
    if missing:
        raise MissingColumnsError(kind, missing, list(columns))
    return mapping


def match_columns(kind: str, columns: list[str],
                  overrides: dict[str, str] | None = None) -> ColumnMapping:
    """detect_mapping without the check for required fields (a page shows what a mapping
    being edited uses and ignores before it is complete)."""
    specs = fields(kind)
    names = {f.name for f in specs}
    overrides = dict(overrides or {})
    chosen: dict[str, str] = {}
    conf: dict[str, float] = {}
    how: dict[str, str] = {}
    used: set[str] = set()
    ignored: list[str] = []
    for src, dst in overrides.items():
        if src not in columns:
            raise MappingError(f"The mapping names column '{src}', but the file has no such "
                               f"column. Its columns are: {', '.join(columns[:30])}.")
        if dst in (None, ""):
            used.add(src)
            ignored.append(src)
            continue
        if dst not in names:
            raise MappingError(f"'{dst}' is not a {kind} field. Fields are: "
                               f"{', '.join(sorted(names))}.")
        chosen[dst], conf[dst], how[dst] = src, 1.0, "user"
        used.add(src)
    norm = {c: normalise(c) for c in columns}
    # Exact matches first (field name, then aliases), so fuzzy matches never steal them.
    for spec in specs:
        if spec.name in chosen:
            continue
        keys = (spec.name, *spec.aliases)
        for key in keys:
            hit = next((c for c in columns if c not in used and norm[c] == key), None)
            if hit is not None:
                chosen[spec.name], conf[spec.name], how[spec.name] = hit, 1.0, "exact"
                used.add(hit)
                break
    for spec in specs:
        if spec.name in chosen or len(columns) > FUZZY_MAX_COLUMNS:
            continue
        best, score = None, 0.0
        for c in columns:
            if c in used or not norm[c]:
                continue
            for key in (spec.name, *spec.aliases):
                s = difflib.SequenceMatcher(None, norm[c], key).ratio()
                if s > score:
                    best, score = c, s
        if best is not None and score >= 0.8:
            chosen[spec.name], conf[spec.name] = best, round(score, 2)
            how[spec.name] = "similar"
            used.add(best)
    user_ignored = tuple(c for c in ignored if c not in chosen.values())
    if overrides:
        # A caller may spell out the whole mapping (the Data page does): a pair the
        # detection would have made anyway keeps the detection's match and confidence,
        # and only a column the detection would have used counts as ignored by hand.
        auto = match_columns(kind, columns)
        for dst, src in chosen.items():
            if how[dst] == "user" and auto.columns.get(dst) == src:
                how[dst], conf[dst] = auto.how[dst], auto.confidence[dst]
        auto_used = set(auto.columns.values())
        user_ignored = tuple(c for c in user_ignored if c in auto_used)
    return ColumnMapping(kind, chosen, conf, tuple(columns), how, user_ignored)


def parse_map_args(items: list[str] | None) -> dict[str, str]:
    """['qty=quantity', 'Bill Dt=date'] -> {'qty': 'quantity', 'Bill Dt': 'date'}."""
    out: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.rpartition("=")
        if not sep or not src:
            raise MappingError(f"'{item}' is not a mapping; write it as column=field, "
                               "e.g. qty=quantity.")
        out[src] = dst.strip()
    return out
