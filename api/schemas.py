"""Request and response models (pydantic), with the API's input limits."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      WithJsonSchema, field_validator, model_validator)

PIN_PATTERN = r"^[1-9][0-9]{5}$"
MAX_HORIZON = 90
MAX_BATCH = 1000
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2100, 12, 31)   # dates the API accepts
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def first_control_char(text: str) -> str | None:
    """'\\x00 at position 3' for the first control character (NUL, tab, newline, DEL,
    C1 ...) in `text`, else None. Ids and text fields of the API never hold one."""
    m = _CONTROL.search(text)
    return None if m is None else f"{m.group()!r} at position {m.start() + 1}".replace(
        "'", "")


def _no_control(value):
    if isinstance(value, str):
        bad = first_control_char(value)
        if bad:
            raise ValueError(f"must not contain control characters (found {bad})")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _no_control(item)
    return value


def _iso_day(value):
    """A real calendar date written YYYY-MM-DD between FIRST_DAY and LAST_DAY: no Unix
    timestamps (0 is not 1970-01-01), no datetimes, no year 9999."""
    if isinstance(value, datetime):
        raise ValueError("must be a date written YYYY-MM-DD, without a time")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _ISO_DAY.match(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value.strip()} is not a calendar date") from None
    else:
        raise ValueError("must be a date written YYYY-MM-DD, e.g. 2025-01-31")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


ApiDate = Annotated[date, BeforeValidator(_iso_day),
                    WithJsonSchema({"type": "string", "format": "date",
                                    "description": f"YYYY-MM-DD, {FIRST_DAY} to {LAST_DAY}"})]

PinCode = Annotated[str, StringConstraints(pattern=PIN_PATTERN),
                    Field(description="6-digit Indian PIN code, not starting with 0",
                          examples=["400069"])]
SkuId = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"),
                  Field(examples=["DA-0002"])]
Horizon = Annotated[int, Field(ge=1, le=MAX_HORIZON, description="days (1-90)")]
Urgency = Literal["critical", "high", "medium", "low"]


class Strict(BaseModel):
    """Request bodies: no unknown fields, and no control characters in any text."""
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_has_no_control_characters(cls, value):
        return _no_control(value)


# ---- errors ----------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    request_id: str
    details: dict | list | None = None
    details_total: int | None = Field(
        None, description="how many evidence rows there were, when `details` shows only "
                          "the first 50")


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(*codes: int) -> dict:
    text = {400: "Bad request", 401: "Not signed in, or the token/key is not valid",
            403: "Role or PIN scope does not allow this", 404: "Not found",
            409: "Conflict with the current state", 413: "Upload too large",
            422: "Input not valid (the message names the field)",
            429: "Rate limit reached (see Retry-After)", 500: "Server error",
            503: "Warehouse not available (warehouse_locked), or its disk is read-only "
                 "(read_only)",
            507: "The server's disk is full (disk_full): nothing was saved"}
    return {c: {"model": ErrorResponse, "description": text.get(c, "Error")} for c in codes}


# ---- system and auth -------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    warehouse: str = Field(description="the warehouse file's name (never its location)")
    schema_version: int
    data_version: str
    latest_forecast_run: str | None


class TokenRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    username: str
    role: str
    pin_codes: list[str]


class ApiKeyRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ApiKeyResponse(BaseModel):
    key_id: str
    api_key: str = Field(description="Shown once; store it securely")
    username: str
    role: str


# ---- forecasts -------------------------------------------------------------------------------
class ForecastPoint(BaseModel):
    date: date
    forecast: float
    lo: float | None = Field(description="lower bound of the 95% prediction interval")
    hi: float | None = Field(description="upper bound of the 95% prediction interval")
    planned: bool | None = Field(None, description="an inline plan covers this day")
    forecast_no_plan: float | None = Field(
        None, description="the stored forecast, before the inline plan (plan requests only)")


class Accuracy(BaseModel):
    source: str = Field(description="where the figures come from")
    model: str
    n: int
    wape: float | None = Field(description="%")
    mape: float | None = Field(description="% over non-zero actuals")
    smape: float | None = None
    mae: float | None = None
    rmse: float | None = None
    bias_pct: float | None = None
    coverage95: float | None = Field(None, description="% of actuals inside the 95% interval")
    coverage80: float | None = None


class SeriesForecast(BaseModel):
    sku_id: str
    pin_code: str
    run_id: str
    model: str
    interval_level: float = 0.95
    horizon: int = Field(description="days returned")
    horizon_requested: int
    cutoff: date | None
    last_updated: datetime
    forecast: list[ForecastPoint]
    accuracy: Accuracy | None
    note: str | None = None


class BatchItem(Strict):
    sku_id: SkuId
    pin_code: PinCode
    horizon: Horizon = 28


_Day = ApiDate    # PlanItem has a field named `date`


class PlanItem(Strict):
    """One row of an inline price / promotion plan (the plan upload's fields)."""
    sku_id: SkuId | None = None
    category: str | None = Field(None, max_length=100)
    pin_code: PinCode | None = None
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=100)
    date: _Day | None = None
    date_from: _Day | None = None
    date_to: _Day | None = None
    price: float | None = Field(None, gt=0, description="planned selling price, ₹")
    discount_pct: float | None = Field(None, ge=0, lt=100)
    promo_type: str | None = Field(
        None, max_length=100, examples=["price_cut", "feature+display"],
        description="none, price_cut, feature, display, bundle, other, the plan upload's "
                    "words (BOGO, leaflet, TPR, ...), or several kinds joined by '+', ',' or "
                    "'and' ('display + feature')")

    @field_validator("promo_type")
    @classmethod
    def _promo_type(cls, value):
        from engine.ingest.mapping import choice_of

        if value is None:
            return None
        kind = choice_of("promo_type", value)
        if kind is None:
            raise ValueError(f"promo_type '{value}' is not a promotion type (none, price_cut, "
                             "feature, display, bundle, other; several joined as in "
                             "'display + feature')")
        return kind

    @model_validator(mode="after")
    def _complete(self):
        if self.sku_id is None and self.category is None:
            raise ValueError("a plan row needs sku_id or category")
        if self.date is None and self.date_from is None:
            raise ValueError("a plan row needs date, or date_from (and date_to)")
        if self.date is None and self.date_to is not None and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.price is None and self.discount_pct is None and self.promo_type is None:
            raise ValueError("a plan row needs a price, a discount_pct or a promo_type")
        return self


class BatchRequest(Strict):
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)
    plan: list[PlanItem] | None = Field(
        None, max_length=10 * MAX_BATCH,
        description="an inline price / promotion plan: the stored forecasts of the days it "
                    "covers are scaled by the estimated price and promotion responses (no "
                    "refit; upload the plan and run a forecast for the plan-aware model)")


class BatchError(BaseModel):
    index: int
    sku_id: str
    pin_code: str
    code: str
    message: str


class BatchResponse(BaseModel):
    run_id: str
    last_updated: datetime
    results: list[SeriesForecast]
    errors: list[BatchError]


class AccuracyRow(BaseModel):
    group: str | None
    model: str
    n: int
    wape: float | None
    mape: float | None
    smape: float | None
    mae: float | None
    rmse: float | None
    bias_pct: float | None
    mase: float | None
    coverage80: float | None
    coverage95: float | None
    fva_pct: float | None


class AccuracyResponse(BaseModel):
    run_id: str
    group_by: Literal["category", "state"]
    start_date: date | None
    end_date: date | None
    rows: list[AccuracyRow]


# ---- planning --------------------------------------------------------------------------------
class ReorderLine(BaseModel):
    sku_id: str
    pin_code: str
    name: str | None
    category: str | None
    city: str | None
    state: str | None
    urgency: str
    action: str | None
    on_hand: float | None
    on_order: float | None
    lead_time_days: float | None
    daily_demand: float | None
    safety_stock: float | None
    reorder_point: float | None
    order_up_to: float | None
    days_of_cover: float | None
    stockout_date: date | None
    order_qty: float | None
    order_cases: float | None
    order_value: float | None
    reason: str
    demand_source: str | None


class InventoryResponse(BaseModel):
    demand_basis: str
    total_lines: int
    returned: int
    lines: list[ReorderLine]


class PriceChangeIn(Strict):
    pct: float = Field(ge=-0.9, le=2.0, description="-0.08 = an 8% cut")
    sku_ids: list[SkuId] = Field(default_factory=list, max_length=1000)
    category: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    state: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    start: ApiDate | None = None
    end: ApiDate | None = None

    @model_validator(mode="after")
    def _window(self):
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"the price change window ends ({self.end}) before it starts "
                             f"({self.start}); swap start and end")
        return self


class PricingRequest(Strict):
    changes: list[PriceChangeIn] = Field(min_length=1, max_length=50)


class PricingSku(BaseModel):
    sku_id: str
    category: str | None
    baseline_units: float
    units: float
    baseline_revenue: float
    revenue: float
    baseline_margin: float
    margin: float


class PricingResponse(BaseModel):
    baseline: str
    changes: list[str]
    totals: dict[str, float | int | None]
    by_sku: list[PricingSku]


PriceEndings = Literal["retail", "whole", "nine", "paise"]


class OptimizeRequest(Strict):
    objective: Literal["margin", "revenue"] = "margin"
    min_margin: float | None = Field(None, ge=0, lt=1,
                                     description="0.15 = margin at least 15% of revenue")
    margin_scope: Literal["total", "sku"] = Field(
        "total", description="minimum margin over the whole price list, or on every SKU")
    max_change: float | None = Field(0.10, gt=0, le=0.5,
                                     description="0.1 = within 10% of the current price")
    volume_floor: float | None = Field(None, gt=0, le=2,
                                       description="0.95 = each category keeps 95% of units")
    above_cheapest: float | None = Field(
        None, ge=0, le=1, description="0.05 = no price more than 5% above the cheapest "
                                      "competitor's stored price")
    match_within: float | None = Field(
        None, ge=0, le=100000, description="5 = no price more than ₹5 above the cheapest "
                                           "competitor's stored price")
    price_endings: PriceEndings = Field(
        "retail", description="retail = whole rupees, or ₹0.50 steps below ₹100; whole = "
                              "whole rupees; nine = ending in 9 (₹x.90 below ₹20); paise = "
                              "any price")


class PriceRecommendation(BaseModel):
    sku_id: str
    name: str | None
    category: str | None
    current_price: float
    recommended_price: float
    change_pct: float
    baseline_units: float
    units: float
    baseline_revenue: float
    revenue: float
    baseline_margin: float
    margin: float
    reason: str


class OptimizeResponse(BaseModel):
    status: str
    baseline: str
    price_endings: str
    totals: dict[str, float | int | None]
    recommendations: list[PriceRecommendation]


class MarkdownRequest(Strict):
    sku_id: SkuId
    pin_code: PinCode
    as_of: ApiDate | None = Field(None, description="the plan starts the day after; "
                                                    "default today")
    step_days: int = Field(7, ge=1, le=90, description="days a price holds")
    max_discount: float = Field(0.5, gt=0, lt=1, description="0.5 = at most 50% off")
    salvage_pct: float | None = Field(
        None, ge=0, le=1, description="value of a unit left at the deadline as a share of "
                                      "unit cost; default 0 short-life, 0.3 seasonal")
    days_left: int | None = Field(None, ge=1, le=365,
                                  description="your own deadline (days), e.g. for a clearance")
    shelf_life: dict[str, Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=dict, description="category -> shelf life (days) for SKUs the "
                                          "catalog gives none", examples=[{"Dairy": 5}])
    clearance_days: int = Field(42, ge=1, le=365, description="days after a festival "
                                "season ends to clear its stock")
    season_multiplier: float = Field(2.0, gt=1, le=20, description="a category is seasonal "
                                     "when a festival multiplies its demand by this much")
    monotone: bool = Field(True, description="never raise the price back up")
    allow_below_cost: bool = False
    price_endings: PriceEndings = "retail"


class MarkdownStep(BaseModel):
    step: int
    start: date
    end: date
    days: int
    price: float
    discount: float
    expected_demand: float
    expected_units: float
    revenue: float
    stock_start: float
    stock_left: float


class MarkdownResponse(BaseModel):
    sku_id: str
    pin_code: str
    name: str | None
    category: str | None
    kind: str
    days_left: int
    deadline: date
    elasticity: float
    current_price: float
    unit_cost: float
    baseline: str
    reason: str
    totals: dict[str, float | int | None]
    steps: list[MarkdownStep]


class MandiRow(BaseModel):
    rank: int
    market: str
    state: str | None
    district: str | None
    score: float | None
    modal_price: float | None = Field(description="Rs per quintal")
    transport_per_qtl: float | None
    landed_price: float | None
    road_km: float | None
    lead_time_days: float | None
    last_date: date | None
    reason: str | None
    price_score: float | None
    quality_score: float | None
    logistics_score: float | None
    reliability_score: float | None


class SourcingResponse(BaseModel):
    commodity: str
    pin_code: str
    destination: str | None
    quantity_qtl: float
    mandis: list[MandiRow]


# ---- data ------------------------------------------------------------------------------------
class ColumnUse(BaseModel):
    """What became of one column of the uploaded file."""
    column: str
    status: Literal["mapped", "ignored"]
    field: str | None = Field(description="the MicroPulse field the column feeds")
    match: Literal["exact", "similar", "user"] | None = Field(
        description="how it was matched; 'user' on an ignored column: ignored as asked")
    confidence: float | None
    suggested_field: str | None = Field(
        description="an ignored column that looks like a field no other column feeds: send "
                    "mapping={column: field} to use it")


class IngestResponse(BaseModel):
    batch_id: str
    kind: str
    file_name: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicates_skipped: int
    blank_lines: int = Field(0, description="fully blank lines (or sheet rows), counted apart")
    total_rows: int = Field(0, description="'Total' / 'Grand Total' footer rows, counted apart")
    reconciliation: str = Field(
        "", description="the counts as one sentence: read = loaded + quarantined + "
                        "duplicates + blank + total rows")
    grain: str | None
    mapping: dict
    columns: list[ColumnUse] = Field(description="every column of the file, in its order")
    ignored_columns: list[str]
    issues: list[dict]
    plan_version: int | None = Field(
        None, description="plan uploads: the version this upload's rows were stored as")
    matching: dict | None = Field(
        None, description="competitor uploads: items in the file, matched before, matched "
                          "now (auto), waiting for review, not ours")
    warnings: list[str] = Field(
        default_factory=list, description="rows loaded with a doubt (plan: a price and a "
                                          "discount that disagree with the MRP)")


class AlertOut(BaseModel):
    alert_id: str
    rule: str
    severity: str
    entity: str
    day: date
    reason: str
    status: str
    pin_code: str | None
    link: str | None
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class AlertsResponse(BaseModel):
    total: int
    alerts: list[AlertOut]


class AcknowledgeResponse(BaseModel):
    alert_id: str
    status: str
    acknowledged_by: str


# ---- scenarios --------------------------------------------------------------------------------
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class ScenarioSelectionIn(Strict):
    """Products x places x dates the assumptions apply to; empty lists mean all."""
    categories: list[ShortText] = Field(default_factory=list, max_length=100)
    skus: list[SkuId] = Field(default_factory=list, max_length=1000)
    states: list[ShortText] = Field(default_factory=list, max_length=50)
    cities: list[ShortText] = Field(default_factory=list, max_length=200)
    pins: list[PinCode] = Field(default_factory=list, max_length=1000)
    start: ApiDate | None = Field(None, description="first day the assumptions apply")
    end: ApiDate | None = Field(None, description="last day the assumptions apply")


class ScenarioAssumptionsIn(Strict):
    """What the scenario changes; the defaults are the baseline. Out-of-range values are a
    422 `bad_assumption` naming the range."""
    price_change_pct: float = Field(0.0, description="-10 = prices 10% lower (-50 to 50)")
    promo: bool = Field(False, description="a promotion at the category's usual discount")
    plan_version: int | None = Field(None, description="an uploaded price/promotion plan")
    demand_shock_pct: float = Field(0.0, description="+20 = demand 20% above the forecast "
                                                     "(-90 to 200)")
    temp_anomaly_c: float = Field(0.0, description="°C above normal (-10 to 10)")
    rain_anomaly_mm: float = Field(0.0, description="mm/day above normal (-30 to 30)")
    festival_intensity: float = Field(1.0, description="1 = festivals as usual, 0 = none "
                                                       "(0 to 3)")
    lead_time_change_days: int = Field(0, description="days added to every lead time "
                                                      "(-30 to 60)")
    service_level: float = Field(0.95, description="reorder fill-rate target (0.5 to 0.999)")
    budget_inr: float | None = Field(None, description="purchase budget in ₹ (none = no "
                                                       "limit)")
    mandi_price_shock_pct: float = Field(0.0, description="+20 = mandi prices 20% above "
                                                          "today's (-50 to 200)")


class ScenarioCreate(Strict):
    name: ShortText
    selection: ScenarioSelectionIn = Field(default_factory=ScenarioSelectionIn)
    assumptions: ScenarioAssumptionsIn = Field(default_factory=ScenarioAssumptionsIn)


class ScenarioCompute(Strict):
    """An unsaved scenario (dashboards): computed, never stored."""
    name: ShortText = "Unsaved scenario"
    selection: ScenarioSelectionIn = Field(default_factory=ScenarioSelectionIn)
    assumptions: ScenarioAssumptionsIn = Field(default_factory=ScenarioAssumptionsIn)


class ScenarioPatch(Strict):
    """Only what is sent changes: a new name, and/or selection or assumption fields
    (merged into the stored ones; send the baseline value to undo a change)."""
    name: ShortText | None = None
    selection: ScenarioSelectionIn | None = None
    assumptions: ScenarioAssumptionsIn | None = None


class ScenarioOut(BaseModel):
    scenario_id: str | None
    name: str
    label: str = Field(description="the selection in words")
    created_by: str | None = None
    created_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    data_version: str | None = Field(None, description="data of the last stored result")
    selection: dict
    assumptions: dict
    summary: dict | None = Field(None, description="step totals of the last stored run")
    can_change: bool = Field(False, description="the caller may rename, edit or delete it")


class ScenarioList(BaseModel):
    total: int
    scenarios: list[ScenarioOut]


class ScenarioStep(BaseModel):
    step: Literal["demand", "pricing", "reorder", "sourcing"]
    label: str
    unit: str
    baseline: float | None
    scenario: float | None
    delta: float | None
    delta_pct: float | None = Field(None, description="0.12 = 12% above the baseline")
    delta_inr: float | None
    reason: str
    extras: dict[str, float | int | str | None] = Field(default_factory=dict)


class ScenarioDemand(BaseModel):
    totals: dict[str, float | int | str | None]
    periods: list[dict]
    by_category: list[dict]


class ScenarioPricing(BaseModel):
    totals: dict[str, float | int | None]
    total_skus: int
    by_sku: list[dict]


class ScenarioReorder(BaseModel):
    available: bool
    note: str | None
    baseline: dict | None
    scenario: dict | None
    total_lines: int
    lines: list[dict]


class ScenarioSourcing(BaseModel):
    note: str | None
    commodities: list[dict]
    unlinked: list[dict]


class ScenarioResultOut(BaseModel):
    scenario: ScenarioOut
    data_version: str
    run_id: str | None
    grain: str
    levers: dict[str, float]
    steps: list[ScenarioStep]
    demand: ScenarioDemand
    pricing: ScenarioPricing
    reorder: ScenarioReorder
    sourcing: ScenarioSourcing
    stored: bool = Field(description="the step totals were saved with the scenario")


class ScenarioDeleted(BaseModel):
    deleted: str
    name: str


class CompetitorIndexRow(BaseModel):
    sku_id: str | None = None
    name: str | None = None
    category: str | None = None
    city: str | None = None
    week: date
    our_price: float | None
    competitor_price: float | None
    cheapest_price: float | None
    index: float | None = Field(description="100 x our price / the competitors' average")
    cheapest_index: float | None = Field(description="100 x our price / the cheapest")
    units: float | None
    cells: int = Field(description="SKU x city cells behind the row")


class CompetitorIndexResponse(BaseModel):
    level: str
    weeks: int
    matching: dict = Field(description="stored competitor items by match status, and rows")
    total: int
    returned: int
    rows: list[CompetitorIndexRow]


class CompetitorReviewItem(BaseModel):
    item: str = Field(description="the item's key (send it back to decide)")
    item_name: str | None
    suggested_sku: str | None
    suggested_name: str | None
    confidence: float
    why: str | None
    competitors: str | None
    rows: int
    latest_price: float | None
    latest_date: date | None


class CompetitorReviewResponse(BaseModel):
    items: list[CompetitorReviewItem]


class CompetitiveElasticityRow(BaseModel):
    sku_id: str
    name: str | None
    category: str | None
    cross_elasticity: float | None = Field(
        description="% change in our units for a 1% change in the cheapest competitor's "
                    "price (+0.3: a 10% cut there costs us about 3%); null: not estimated")
    lo: float | None
    hi: float | None
    se: float | None = Field(description="standard error: sampling and specification")
    spec_se: float | None = Field(description="specification term: the estimate's spread "
                                              "between the PPML and log-scale fits")
    weeks: int = Field(description="weeks with a competitor price")
    n_obs: int
    sufficient: bool
    note: str | None
    spec: str | None = Field(description="how it was estimated")


class CompetitiveElasticityResponse(BaseModel):
    skus: int
    sufficient: int
    rows: list[CompetitiveElasticityRow]


class CompetitorMatchRequest(Strict):
    item: str = Field(min_length=1, max_length=300, description="the competitor's item name")
    sku_id: str | None = Field(None, max_length=64,
                               description="our SKU it is; null: not one of ours")


class CompetitorMatchResponse(BaseModel):
    item: str
    sku_id: str | None
    status: str = Field(description="confirmed | corrected | rejected")
