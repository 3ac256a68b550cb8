"""Warehouse schema: every table from DESIGN.md.

The schema is versioned with Alembic (engine/warehouse/migrate.py, revisions in
engine/warehouse/migrations/versions/): revision 0001, the baseline, runs the statements
below - all idempotent (`CREATE ... IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`), so a
warehouse made before Alembic is brought to it whatever it had. From now on a schema change
is a new revision whose upgrade() runs the new DDL; also add the table or column here (the
CREATE statement documents the current shape, and ADDED_COLUMNS / TABLES are what
`_schema_is_current` and the scoping views read), and bump SCHEMA_VERSION.
"""
from __future__ import annotations

SCHEMA_VERSION = 11         # 3: plan_rows; 4: auth_sessions, auth_client_throttle; 5: derived_results;
                            # 6: scenarios with selection + assumptions (see upgrade_scenarios);
                            # 7: live_accuracy; 8: store_clusters; 9: competitor_prices,
                            # competitor_matches; 10: sales_events; 11: assistant_turns

TABLES: dict[str, str] = {
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        )""",
    # One row per transaction, or per sku x pin x day when the source is aggregated.
    "sales": """
        CREATE TABLE IF NOT EXISTS sales (
            transaction_id VARCHAR,
            batch_id VARCHAR NOT NULL,
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            store_id VARCHAR,
            date DATE NOT NULL,
            quantity DOUBLE NOT NULL,
            price DOUBLE,
            promo BOOLEAN DEFAULT FALSE,
            regular_price DOUBLE,
            unit_cost DOUBLE,
            feature DOUBLE,
            display DOUBLE,
            tpr DOUBLE
        )""",
    # The sku_id x pin_code x date aggregate every model reads. Days without sales are
    # absent (zero demand). `regular_price` is the shelf price before any promotion: the
    # day's highest uploaded regular price, else its highest non-promotion price;
    # `unit_cost` is the quantity-weighted mean cost; `feature`, `display` and `tpr` are
    # the day's highest flag (0/1) or share (0..1), NULL when the upload had none.
    "sales_daily": """
        CREATE TABLE IF NOT EXISTS sales_daily (
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            date DATE NOT NULL,
            quantity DOUBLE NOT NULL,
            revenue DOUBLE NOT NULL,
            price DOUBLE,
            regular_price DOUBLE,
            promo BOOLEAN DEFAULT FALSE,
            unit_cost DOUBLE,
            feature DOUBLE,
            display DOUBLE,
            tpr DOUBLE,
            PRIMARY KEY (sku_id, pin_code, date)
        )""",
    "skus": """
        CREATE TABLE IF NOT EXISTS skus (
            sku_id VARCHAR PRIMARY KEY,
            name VARCHAR,
            category VARCHAR NOT NULL,
            subcategory VARCHAR,
            brand VARCHAR,
            mrp DOUBLE,
            unit_cost DOUBLE,
            shelf_life_days INTEGER,
            unit_volume_l DOUBLE,
            supplier VARCHAR
        )""",
    "locations": """
        CREATE TABLE IF NOT EXISTS locations (
            pin_code VARCHAR PRIMARY KEY,
            store_id VARCHAR,
            locality VARCHAR,
            city VARCHAR,
            district VARCHAR,
            state VARCHAR,
            region VARCHAR,
            lat DOUBLE,
            lon DOUBLE,
            urban_rural VARCHAR
        )""",
    "weather": """
        CREATE TABLE IF NOT EXISTS weather (
            city VARCHAR NOT NULL,
            date DATE NOT NULL,
            temp_c DOUBLE,
            temp_max_c DOUBLE,
            temp_min_c DOUBLE,
            rainfall_mm DOUBLE,
            humidity DOUBLE,
            PRIMARY KEY (city, date)
        )""",
    # One row per festival occurrence. `states` is a comma-separated list of state names,
    # or 'ALL' for national festivals.
    "festivals": """
        CREATE TABLE IF NOT EXISTS festivals (
            name VARCHAR NOT NULL,
            date DATE NOT NULL,
            festival_type VARCHAR,
            states VARCHAR NOT NULL,
            pre_days INTEGER NOT NULL,
            post_days INTEGER NOT NULL,
            source VARCHAR,
            PRIMARY KEY (name, date)
        )""",
    # Per-category demand multiplier at a festival's peak (1.0 = no effect).
    "festival_effects": """
        CREATE TABLE IF NOT EXISTS festival_effects (
            name VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            multiplier DOUBLE NOT NULL,
            PRIMARY KEY (name, category)
        )""",
    "inventory": """
        CREATE TABLE IF NOT EXISTS inventory (
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            on_hand DOUBLE NOT NULL,
            on_order DOUBLE DEFAULT 0,
            lead_time_days INTEGER,
            moq INTEGER,
            case_pack INTEGER,
            snapshot_date DATE,
            batch_id VARCHAR,
            PRIMARY KEY (sku_id, pin_code)
        )""",
    # Agmarknet shape: Rs per quintal, arrivals in tonnes.
    "mandi_prices": """
        CREATE TABLE IF NOT EXISTS mandi_prices (
            market VARCHAR NOT NULL,
            state VARCHAR,
            district VARCHAR,
            commodity VARCHAR NOT NULL,
            variety VARCHAR,
            grade VARCHAR,
            date DATE NOT NULL,
            min_price DOUBLE,
            max_price DOUBLE,
            modal_price DOUBLE,
            arrivals_tonnes DOUBLE,
            batch_id VARCHAR
        )""",
    "mandis": """
        CREATE TABLE IF NOT EXISTS mandis (
            market VARCHAR PRIMARY KEY,
            district VARCHAR,
            state VARCHAR,
            lat DOUBLE,
            lon DOUBLE,
            quality_index DOUBLE,
            reliability_index DOUBLE
        )""",
    "forecast_runs": """
        CREATE TABLE IF NOT EXISTS forecast_runs (
            run_id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            kind VARCHAR NOT NULL,
            grain VARCHAR,
            cutoff DATE,
            horizon INTEGER,
            n_series INTEGER,
            models VARCHAR,
            config VARCHAR,
            timings VARCHAR,
            status VARCHAR
        )""",
    "forecasts": """
        CREATE TABLE IF NOT EXISTS forecasts (
            run_id VARCHAR NOT NULL,
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            date DATE NOT NULL,
            forecast DOUBLE NOT NULL,
            lo DOUBLE,
            hi DOUBLE,
            lo80 DOUBLE,
            hi80 DOUBLE,
            model VARCHAR NOT NULL,
            weather_source VARCHAR,
            forecast_no_plan DOUBLE,    -- a run with a price / promotion plan: without it
            planned BOOLEAN             -- the plan covers this series x period
        )""",
    # One routing decision per series and run, with its backtest evidence.
    "forecast_routing": """
        CREATE TABLE IF NOT EXISTS forecast_routing (
            run_id VARCHAR NOT NULL,
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            weights VARCHAR,
            reason VARCHAR,
            n_points INTEGER,
            mae DOUBLE,
            errors VARCHAR
        )""",
    # LightGBM drivers per forecast row (log-scale contributions by group) and the signal
    # values scenarios need (festival uplift, expected weather, planned price).
    "forecast_drivers": """
        CREATE TABLE IF NOT EXISTS forecast_drivers (
            run_id VARCHAR NOT NULL,
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            date DATE NOT NULL,
            base DOUBLE,
            trend_seasonality DOUBLE,
            festival DOUBLE,
            weather DOUBLE,
            price DOUBLE,
            recent_demand DOUBLE,
            festival_uplift DOUBLE,
            temp_c DOUBLE,
            rainfall_mm DOUBLE,
            planned_price DOUBLE
        )""",
    # Point-level backtest predictions; metrics are computed from these by any grouping.
    "backtests": """
        CREATE TABLE IF NOT EXISTS backtests (
            run_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            fold INTEGER NOT NULL,
            cutoff DATE NOT NULL,
            sku_id VARCHAR NOT NULL,
            pin_code VARCHAR NOT NULL,
            date DATE NOT NULL,
            step INTEGER,
            actual DOUBLE,
            forecast DOUBLE,
            lo DOUBLE,
            hi DOUBLE,
            lo80 DOUBLE,
            hi80 DOUBLE
        )""",
    "ingest_batches": """
        CREATE TABLE IF NOT EXISTS ingest_batches (
            batch_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            file_name VARCHAR,
            sha256 VARCHAR,
            grain VARCHAR,
            rows_read BIGINT,
            rows_loaded BIGINT,
            rows_quarantined BIGINT,
            duplicates_skipped BIGINT,
            mapping VARCHAR,
            report VARCHAR,
            created_by VARCHAR,
            created_at TIMESTAMP,
            status VARCHAR
        )""",
    "quarantine": """
        CREATE TABLE IF NOT EXISTS quarantine (
            batch_id VARCHAR NOT NULL,
            line_no BIGINT,
            reason_code VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR
        )""",
    "alerts": """
        CREATE TABLE IF NOT EXISTS alerts (
            alert_id VARCHAR PRIMARY KEY,
            rule VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            day DATE NOT NULL,
            reason VARCHAR NOT NULL,
            details VARCHAR,
            status VARCHAR NOT NULL DEFAULT 'new',
            created_at TIMESTAMP NOT NULL,
            acknowledged_by VARCHAR,
            acknowledged_at TIMESTAMP,
            resolved_at TIMESTAMP,
            UNIQUE (rule, entity, day)
        )""",
    # Stored overrides of the alert rules' defaults (engine/alerts_rules.py).
    "alert_rules": """
        CREATE TABLE IF NOT EXISTS alert_rules (
            rule VARCHAR PRIMARY KEY,
            enabled BOOLEAN NOT NULL,
            severity VARCHAR NOT NULL,
            params VARCHAR,
            updated_by VARCHAR,
            updated_at TIMESTAMP
        )""",
    "audit_log": """
        CREATE TABLE IF NOT EXISTS audit_log (
            ts TIMESTAMP NOT NULL,
            actor VARCHAR,
            action VARCHAR NOT NULL,
            details VARCHAR
        )""",
    # pin_codes: comma-separated 6-digit PIN codes a store user may see ('' for others).
    # password_changed_at ends every session signed in before it (reset, disable).
    "users": """
        CREATE TABLE IF NOT EXISTS users (
            username VARCHAR PRIMARY KEY,
            password_hash VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            pin_codes VARCHAR NOT NULL DEFAULT '',
            disabled BOOLEAN NOT NULL DEFAULT FALSE,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            password_changed_at TIMESTAMP NOT NULL,
            created_by VARCHAR,
            last_sign_in_at TIMESTAMP
        )""",
    # Failed sign-ins per name AS TYPED (lower-cased), whether or not such a user exists,
    # so the lock-out behaves identically for unknown names and reveals nothing.
    "auth_throttle": """
        CREATE TABLE IF NOT EXISTS auth_throttle (
            username VARCHAR PRIMARY KEY,
            failed_attempts INTEGER NOT NULL,
            window_start TIMESTAMP NOT NULL,
            locked_until TIMESTAMP
        )""",
    # Failed sign-ins per (name as typed, client) since schema 4: client is "ip:<address>"
    # or "device:<hash>" (a browser that signed in to that name before). A lock applies to
    # that client only, so nobody can lock a user out from everywhere. (auth_throttle
    # above, one count per name, is no longer written.)
    "auth_client_throttle": """
        CREATE TABLE IF NOT EXISTS auth_client_throttle (
            username VARCHAR NOT NULL,
            client VARCHAR NOT NULL,
            failed_attempts INTEGER NOT NULL,
            window_start TIMESTAMP NOT NULL,
            locked_until TIMESTAMP,
            PRIMARY KEY (username, client)
        )""",
    # App sign-in sessions: the browser keeps "<session_id>.<secret>" in a cookie; only the
    # secret's SHA-256 is stored. Sign-out, a password reset or disabling the user sets
    # revoked_at; expires_at is the absolute end, last_seen_at drives the idle timeout.
    # device_hash: SHA-256 of the browser's device cookie (see auth_client_throttle).
    "auth_sessions": """
        CREATE TABLE IF NOT EXISTS auth_sessions (
            session_id VARCHAR PRIMARY KEY,
            secret_hash VARCHAR NOT NULL,
            username VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            revoked_at TIMESTAMP,
            revoked_reason VARCHAR,
            client VARCHAR,
            device_hash VARCHAR
        )""",
    # Saved scenarios (engine.scenarios): `definition` is the JSON selection and
    # assumptions, `scope` the author's PIN codes (JSON list; NULL = every PIN), `summary`
    # the step totals of the last compute on the data `data_version` names.
    "scenarios": """
    CREATE TABLE IF NOT EXISTS scenarios (
        scenario_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        created_by VARCHAR,
        created_at TIMESTAMP NOT NULL,
        updated_by VARCHAR,
        updated_at TIMESTAMP NOT NULL,
        scope VARCHAR,
        definition VARCHAR NOT NULL,
        data_version VARCHAR,
        summary VARCHAR
    )""",
    # Service-account keys for the REST API (only a hash is stored).
    "api_keys": """
        CREATE TABLE IF NOT EXISTS api_keys (
            key_id VARCHAR PRIMARY KEY,
            key_hash VARCHAR NOT NULL,
            username VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            revoked BOOLEAN NOT NULL DEFAULT FALSE
        )""",
    # Effects the demo generator planted, so tests and notebooks can check recovery.
    "demo_truth": """
        CREATE TABLE IF NOT EXISTS demo_truth (
            sku_id VARCHAR PRIMARY KEY,
            category VARCHAR,
            elasticity DOUBLE,
            base_daily_units DOUBLE,
            temp_effect_per_c DOUBLE,
            rain_effect_per_10mm DOUBLE,
            trend_per_year DOUBLE,
            yearly_amplitude DOUBLE,
            weekend_uplift DOUBLE,
            intermittent BOOLEAN
        )""",
    # Results derived from other tables and expensive to compute (elasticities, accuracy
    # tables...), stored once per version of the data domains they read (see
    # engine/warehouse/results.py); a new version replaces the old row.
    "derived_results": """
        CREATE TABLE IF NOT EXISTS derived_results (
            kind VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            depends_on VARCHAR NOT NULL,
            computed_at TIMESTAMP NOT NULL,
            seconds DOUBLE,
            payload BLOB NOT NULL,
            PRIMARY KEY (kind, params)
        )""",
    # Stored forecast runs scored against the sales that arrived for their horizon (see
    # engine/warehouse/accuracy.py): one row per run x dimension (all, category, state,
    # step) x group; percentages; backtest_wape = the run's routed backtest on that group.
    "live_accuracy": """
        CREATE TABLE IF NOT EXISTS live_accuracy (
            run_id VARCHAR NOT NULL,
            dimension VARCHAR NOT NULL,
            grp VARCHAR NOT NULL,
            n_series BIGINT,
            n_periods BIGINT,
            n_points BIGINT,
            actual_sum DOUBLE,
            forecast_sum DOUBLE,
            abs_error_sum DOUBLE,
            wape DOUBLE,
            bias_pct DOUBLE,
            coverage80 DOUBLE,
            coverage95 DOUBLE,
            backtest_wape DOUBLE,
            actuals_through DATE,
            periods_covered BIGINT,
            horizon INTEGER,
            grain VARCHAR,
            cutoff DATE,
            run_created_at TIMESTAMP,
            sales_version VARCHAR,
            scored_at TIMESTAMP
        )""",
    # Store clusters (engine/intel/clusters.py, engine/warehouse/clusters.py): one row
    # per PIN code of the latest clustering, with its cluster's name and description (so a
    # PIN-scoped reader sees only its own PINs' clusters), the PIN's features (JSON), how k
    # was chosen (JSON: silhouette per k) and the sales version it was computed on.
    "store_clusters": """
        CREATE TABLE IF NOT EXISTS store_clusters (
            pin_code VARCHAR PRIMARY KEY,
            cluster INTEGER NOT NULL,
            cluster_name VARCHAR NOT NULL,
            description VARCHAR NOT NULL,
            n_pins INTEGER NOT NULL,
            k INTEGER NOT NULL,
            silhouette DOUBLE,
            features VARCHAR,
            selection VARCHAR,
            sales_version VARCHAR NOT NULL,
            computed_at TIMESTAMP NOT NULL
        )""",
    # Every sales event id ever received (POST /v1/sales/events), written in the same
    # transaction as the micro-batch that loaded or rejected it, so a retried event is a
    # duplicate however often it comes back (engine/warehouse/events.py).
    "sales_events": """
        CREATE TABLE IF NOT EXISTS sales_events (
            event_id VARCHAR PRIMARY KEY,
            batch_id VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            received_at TIMESTAMP NOT NULL
        )""",
    # "Ask MicroPulse" conversation memory (engine/warehouse/conversations.py): one row per
    # answered question, so a follow-up ("and in Pune?") reuses the last intent and
    # entities; keyed by conversation and user, never shown to a PIN-scoped handle.
    "assistant_turns": """
        CREATE TABLE IF NOT EXISTS assistant_turns (
            conversation_id VARCHAR NOT NULL,
            turn INTEGER NOT NULL,
            username VARCHAR NOT NULL,
            asked_at TIMESTAMP NOT NULL,
            question VARCHAR NOT NULL,
            intent VARCHAR NOT NULL,
            entities VARCHAR NOT NULL,
            PRIMARY KEY (conversation_id, turn)
        )""",
    # Planned prices and promotions: one row per accepted row of a plan upload. Every
    # loaded plan batch gets the next plan_version (1, 2, ...); all versions are kept, and
    # a newer version supersedes older ones for the same products, places and days. No
    # row names a SKU, a category or both; no pin_code/city/state = every place;
    # a single date is stored as date_from = date_to. promo_type is one of none,
    # price_cut, feature, display, bundle, other.
    "plan_rows": """
        CREATE TABLE IF NOT EXISTS plan_rows (
            batch_id VARCHAR NOT NULL,
            plan_version BIGINT NOT NULL,
            row_no BIGINT NOT NULL,
            sku_id VARCHAR,
            category VARCHAR,
            pin_code VARCHAR,
            city VARCHAR,
            state VARCHAR,
            date_from DATE NOT NULL,
            date_to DATE NOT NULL,
            price DOUBLE,
            discount_pct DOUBLE,
            promo_type VARCHAR NOT NULL,
            note VARCHAR
        )""",
    # Competitors' shelf prices: one row per accepted row of a competitor upload. item_key
    # is the item's name as matched (lower case, single spaces; else 'code:<item_code>');
    # which SKU it is lives in competitor_matches, so a corrected match applies to every
    # stored row. A row is for a PIN code (city filled from locations) or for a city.
    "competitor_prices": """
        CREATE TABLE IF NOT EXISTS competitor_prices (
            batch_id VARCHAR NOT NULL,
            row_no BIGINT NOT NULL,
            competitor VARCHAR NOT NULL,
            item_name VARCHAR,
            item_code VARCHAR,
            item_key VARCHAR NOT NULL,
            pin_code VARCHAR,
            city VARCHAR,
            date DATE NOT NULL,
            price DOUBLE NOT NULL,
            in_stock BOOLEAN NOT NULL
        )""",
    # Which of our SKUs a competitor item is: one row per item_key. status: auto (matched
    # at or above the auto-accept confidence), review (waiting for a person), none (not
    # one of ours), confirmed / corrected / rejected (a person decided; never overwritten
    # by a later upload's matching).
    "competitor_matches": """
        CREATE TABLE IF NOT EXISTS competitor_matches (
            item_key VARCHAR PRIMARY KEY,
            item_name VARCHAR,
            sku_id VARCHAR,
            suggested_sku VARCHAR,
            confidence DOUBLE NOT NULL,
            status VARCHAR NOT NULL,
            why VARCHAR,
            decided_by VARCHAR,
            decided_at TIMESTAMP
        )""",
    # Upload bookkeeping that rollback needs: the SKUs a batch created and the catalog /
    # inventory rows a batch replaced (copies of those tables' rows plus two columns).
    "ingest_created_skus": """CREATE TABLE IF NOT EXISTS ingest_created_skus (
        batch_id VARCHAR NOT NULL, sku_id VARCHAR NOT NULL)""",
    "ingest_prior_skus": """CREATE TABLE IF NOT EXISTS ingest_prior_skus AS
        SELECT CAST(NULL AS VARCHAR) AS replaced_by, CAST(NULL AS BOOLEAN) AS existed, *
        FROM skus WHERE FALSE""",
    "ingest_prior_inventory": """CREATE TABLE IF NOT EXISTS ingest_prior_inventory AS
        SELECT CAST(NULL AS VARCHAR) AS replaced_by, CAST(NULL AS BOOLEAN) AS existed, *
        FROM inventory WHERE FALSE""",
}

# Columns added after a table was first released: (table, column, type). Warehouse files
# made before then get them on their next start; new files have them from CREATE TABLE.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sales", "regular_price", "DOUBLE"), ("sales", "unit_cost", "DOUBLE"),
    ("sales", "feature", "DOUBLE"), ("sales", "display", "DOUBLE"), ("sales", "tpr", "DOUBLE"),
    ("sales_daily", "unit_cost", "DOUBLE"), ("sales_daily", "feature", "DOUBLE"),
    ("sales_daily", "display", "DOUBLE"), ("sales_daily", "tpr", "DOUBLE"),
    ("forecasts", "forecast_no_plan", "DOUBLE"), ("forecasts", "planned", "BOOLEAN"),
)


def upgrade_scenarios(cur) -> None:
    """Files from before schema 6 kept the Forecast page's saved what-ifs as (name,
    created_by, created_at, selection, settings, result). Rename that table so the new one
    can be created; `migrate_old_scenarios` then moves its rows and drops it."""
    cols = {r[0] for r in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'scenarios'").fetchall()}
    if "settings" in cols:
        cur.execute("ALTER TABLE scenarios RENAME TO scenarios_v1")


def migrate_old_scenarios(cur) -> None:
    """Move the rows of `scenarios_v1` into `scenarios` and drop it: the old selection
    (the page's product / place plus the sidebar filters) becomes the scenario's
    selection, the what-if settings its assumptions, the what-if totals its summary. The
    old scope was a digest of the author's PIN codes: when it is the digest of the
    author's current PINs those become the scope, else the scenario stays visible only
    to unrestricted users."""
    import hashlib
    import json
    import uuid

    exists = cur.execute("SELECT count(*) FROM information_schema.tables WHERE "
                         "table_schema = 'main' AND table_name = 'scenarios_v1'").fetchone()[0]
    if not exists:
        return
    pins = dict(cur.execute("SELECT username, pin_codes FROM users").fetchall())
    known = ("price_change_pct", "temp_anomaly_c", "rain_anomaly_mm", "festival_intensity",
             "promo")
    for name, by, at, selection, settings, result in cur.execute(
            "SELECT name, created_by, created_at, selection, settings, result "
            "FROM scenarios_v1").fetchall():
        sel = json.loads(selection)
        one = lambda k: [sel[k]] if sel.get(k) else []  # noqa: E731
        new_sel = {"categories": one("category") or sel.get("categories", []),
                   "skus": one("sku_id"), "states": one("state") or sel.get("states", []),
                   "cities": one("city") or sel.get("cities", []), "pins": one("pin_code"),
                   "start": None, "end": None}
        scope = None
        if sel.get("scope", "all") != "all":
            mine = sorted(p for p in str(pins.get(by) or "").split(",") if p.strip())
            digest = hashlib.sha256(",".join(mine).encode()).hexdigest()[:16]
            scope = json.dumps(mine if digest == sel["scope"] else [])
        ass = {k: v for k, v in json.loads(settings).items() if k in known}
        taken = cur.execute("SELECT count(*) FROM scenarios WHERE lower(name) = lower(?) AND "
                            "scope IS NOT DISTINCT FROM ?", [name, scope]).fetchone()[0]
        cur.execute("INSERT INTO scenarios VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                    [uuid.uuid4().hex[:12], f"{name} ({new_sel['skus'] or new_sel['pins']})"
                     if taken else name, by, at, by, at, scope,
                     json.dumps({"selection": new_sel, "assumptions": ass}, sort_keys=True),
                     json.dumps({"whatif": json.loads(result)}) if result else None])
    cur.execute("DROP TABLE scenarios_v1")


MIGRATIONS = [f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {ty}" for t, c, ty in ADDED_COLUMNS]

# No indexes on `sales`: DuckDB's ART indexes made a 1M-row upload commit take ~1.7 s
# instead of ~0.02 s, and batch lookups / duplicate checks are scans and hash joins anyway.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_forecasts_run ON forecasts(run_id)",
    "CREATE INDEX IF NOT EXISTS idx_quarantine_batch ON quarantine(batch_id)",
]
