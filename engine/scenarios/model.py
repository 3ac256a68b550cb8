"""What a scenario is: a named set of assumptions over a selection of products x places x
dates, and the one error family of the scenario engine."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import date

import pandas as pd

from engine.errors import MicroPulseError


class ScenarioError(MicroPulseError, ValueError):
    """A scenario that cannot be saved or computed. `code` is stable for the API,
    `message` a sentence for the user, `evidence` what was wrong (a value, a name, rows).
    A missing scenario is a 404, a clash with what is stored a 409, the rest 422."""

    code = "scenario_error"
    STATUS = {"not_found": 404, "name_taken": 409, "ambiguous": 409, "no_forecast": 409}

    def __init__(self, code: str, message: str, evidence=None):
        super().__init__(message, evidence, code=code,
                         http_status=self.STATUS.get(code, type(self).http_status))


def _tuple(value) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(sorted({str(v).strip() for v in value if v is not None and str(v).strip()}))


def _day(value) -> date | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError) as exc:
        raise ScenarioError("bad_date", f"{value!r} is not a date (use YYYY-MM-DD).",
                            value) from exc


@dataclass(frozen=True)
class Selection:
    """Products x places x dates a scenario's assumptions apply to. Empty = all; dates
    bound the forecast periods the assumptions change (None = the whole horizon)."""

    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None

    def __post_init__(self):
        for name in ("categories", "skus", "states", "cities", "pins"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        object.__setattr__(self, "start", _day(self.start))
        object.__setattr__(self, "end", _day(self.end))
        if self.start and self.end and self.end < self.start:
            raise ScenarioError("bad_dates", f"The scenario ends ({self.end:%d-%b-%Y}) "
                                f"before it starts ({self.start:%d-%b-%Y}).",
                                {"start": str(self.start), "end": str(self.end)})

    def label(self) -> str:
        product = ", ".join(self.skus or self.categories) or "All products"
        place = ", ".join(self.pins or self.cities or self.states) or "all places"
        when = ""
        if self.start or self.end:
            when = (f" · {self.start:%d-%b}" if self.start else " · from the start") + \
                (f" to {self.end:%d-%b-%Y}" if self.end else " onwards")
        return f"{product} · {place}{when}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start"] = self.start.isoformat() if self.start else None
        d["end"] = self.end.isoformat() if self.end else None
        d.update({k: list(v) for k, v in d.items() if isinstance(v, tuple)})
        return d


# name -> (low, high, label, unit) for the numeric assumptions
LIMITS = {
    "price_change_pct": (-50.0, 50.0, "price change", "%"),
    "demand_shock_pct": (-90.0, 200.0, "demand shock", "%"),
    "temp_anomaly_c": (-10.0, 10.0, "temperature vs normal", "°C"),
    "rain_anomaly_mm": (-30.0, 30.0, "rainfall vs normal", "mm/day"),
    "festival_intensity": (0.0, 3.0, "festival intensity", "x"),
    "lead_time_change_days": (-30, 60, "lead-time change", "days"),
    "service_level": (0.5, 0.999, "service level", ""),
    "mandi_price_shock_pct": (-50.0, 200.0, "mandi price shock", "%"),
}


@dataclass(frozen=True)
class Assumptions:
    """What the scenario changes. The defaults are the baseline (nothing changed)."""

    price_change_pct: float = 0.0        # +10 = 10% above the planned price
    promo: bool = False                  # a promotion at the category's typical discount
    plan_version: int | None = None      # an uploaded price/promotion plan version
    demand_shock_pct: float = 0.0        # +20 = demand 20% above the forecast
    temp_anomaly_c: float = 0.0          # °C above the expected temperature
    rain_anomaly_mm: float = 0.0         # mm/day above the expected rainfall
    festival_intensity: float = 1.0      # 1 = festivals as usual, 0 = none
    lead_time_change_days: int = 0       # added to every supplier lead time
    service_level: float = 0.95          # reorder fill-rate target
    budget_inr: float | None = None      # purchase budget (None = no limit)
    mandi_price_shock_pct: float = 0.0   # +20 = mandi prices 20% above today's

    def __post_init__(self):
        for name, (lo, hi, label, unit) in LIMITS.items():
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise ScenarioError("bad_assumption", f"The {label} must be a number; got "
                                    f"{value!r}.", {name: value}) from exc
            if not math.isfinite(value) or value < lo or value > hi:
                shown = (f"{lo:.1%} and {hi:.1%}" if name == "service_level"
                         else f"{lo:g} and {hi:g} {unit}".rstrip())
                raise ScenarioError("bad_assumption", f"The {label} must be between {shown}; "
                                    f"got {value:g}.", {name: value})
            object.__setattr__(self, name, int(round(value)) if name ==
                               "lead_time_change_days" else value)
        object.__setattr__(self, "promo", bool(self.promo))
        if self.budget_inr is not None:
            try:
                budget = float(self.budget_inr)
            except (TypeError, ValueError) as exc:
                raise ScenarioError("bad_assumption", "The budget must be a number of "
                                    "rupees.", {"budget_inr": self.budget_inr}) from exc
            if not math.isfinite(budget) or budget < 0:
                raise ScenarioError("bad_assumption", "The budget must be zero or more rupees "
                                    "(leave it empty for no limit).", {"budget_inr": budget})
            object.__setattr__(self, "budget_inr", budget or None)
        if self.plan_version is not None:
            try:
                object.__setattr__(self, "plan_version", int(self.plan_version))
            except (TypeError, ValueError) as exc:
                raise ScenarioError("bad_assumption", f"{self.plan_version!r} is not a plan "
                                    "version number.", self.plan_version) from exc

    @property
    def is_baseline(self) -> bool:
        return self == Assumptions()

    def changed(self) -> dict:
        """The assumptions that differ from the baseline, by name."""
        base = Assumptions()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scenario:
    name: str
    selection: Selection = field(default_factory=Selection)
    assumptions: Assumptions = field(default_factory=Assumptions)
    scenario_id: str | None = None
    created_by: str | None = None
    created_at: object = None
    updated_by: str | None = None
    updated_at: object = None
    data_version: str | None = None      # the data it was last computed on
    scope: tuple[str, ...] | None = None  # PIN codes of the author's scope (None = all)

    def __post_init__(self):
        clean = " ".join(str(self.name or "").split())
        if not clean:
            raise ScenarioError("no_name", "Give the scenario a name.")
        if len(clean) > 80:
            raise ScenarioError("name_too_long", f"Scenario names are at most 80 characters; "
                                f"'{clean[:20]}...' has {len(clean)}.", clean)
        object.__setattr__(self, "name", clean)

    def definition(self) -> dict:
        return {"selection": self.selection.to_dict(),
                "assumptions": self.assumptions.to_dict()}

    @classmethod
    def from_dict(cls, name: str, selection: dict | None = None,
                  assumptions: dict | None = None, **meta) -> "Scenario":
        """Build from plain dicts (API bodies, stored JSON); unknown keys are an error
        that names them, so a typo never silently means 'no change'."""
        sel, ass = dict(selection or {}), dict(assumptions or {})
        for what, given, known in (("selection", sel, Selection),
                                   ("assumptions", ass, Assumptions)):
            unknown = sorted(set(given) - {f.name for f in fields(known)})
            if unknown:
                raise ScenarioError("unknown_field", f"Unknown {what} field(s): "
                                    f"{', '.join(unknown)}. Known: "
                                    f"{', '.join(f.name for f in fields(known))}.", unknown)
        return cls(name=name, selection=Selection(**sel), assumptions=Assumptions(**ass),
                   **meta)
