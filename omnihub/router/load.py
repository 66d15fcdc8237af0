"""Read routing.yaml: shape errors and reference errors alike come back located at their line."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from omnihub.hub.yamlconfig import ConfigError, LocatedError, load_yaml_data, located_validation_errors
from omnihub.router.checks import check_routing
from omnihub.router.config import RoutingConfig


def load_routing(path: Path | str) -> RoutingConfig:
    """Load and fully check a routing file; raise ConfigError listing every problem found."""
    data, locator = load_yaml_data(path)
    if not isinstance(data, dict):
        message = "expected a mapping of keys at the top level (timezone, groups, rules, …)"
        raise ConfigError([LocatedError(locator.file, 1, 1, "", message)])
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(located_validation_errors(exc, data, locator, RoutingConfig)) from None
    problems = [locator.error(problem.path, problem.message) for problem in check_routing(config)]
    if problems:
        problems.sort(key=lambda error: (error.line, error.column))
        raise ConfigError(problems)
    return config
