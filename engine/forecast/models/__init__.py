"""Built-in forecast models; importing this package registers them."""
from engine.forecast.models import baselines, lightgbm_model, prophet_model, statistical  # noqa: F401
