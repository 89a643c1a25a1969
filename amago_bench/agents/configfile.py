"""Agent config files as data: a TOML table -> a frozen config, and the layering every agent kind shares.

A config file has one table per section of its kind's config (amago2: ``[model]``, ``[loss]``,
``[optim]``, ``[train]``; rl2-ppo: ``[model]``, ``[ppo]``, ``[optim]``, ``[train]``), whose keys
are the fields of that section's frozen dataclass, plus overrides applied in this order
(:func:`apply_layers`):

1. ``[suites.<suite name or family>.<table>]`` - per-suite settings (the family first, then the
   exact suite name wins);
2. ``[budgets.<smoke|small|paper>.<table>]`` - the compute budget (model size, run length);
3. ``[budgets.<budget>.suites.<suite name or family>.<table>]`` - a budget's per-suite tweaks.

:func:`build` is the one way to build a section from a mapping: an unknown key or a wrong type is
a :class:`ConfigError` that lists the valid keys or values. Each kind's ``config.py`` holds its
dataclasses, its ``load_config`` and its ``validate``. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any, Literal, Mapping, TypeVar, get_args, get_type_hints

from amago_bench.agents import AgentConfigError

BUDGETS = ("smoke", "small", "paper")
Budget = Literal["smoke", "small", "paper"]

C = TypeVar("C")


class ConfigError(AgentConfigError):
    """A config file or key is wrong; the message names the fix."""


def check_budget(budget: str) -> None:
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; valid: {', '.join(BUDGETS)}")


def check_keys(raw: Mapping[str, Any], allowed: set[str], where: Any) -> None:
    """Refuse top-level keys of a config file that are not in ``allowed``."""
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(allowed))}")


def _coerce(cls: type, key: str, value: Any, where: str) -> Any:
    hint = get_type_hints(cls)[key]
    origin = getattr(hint, "__origin__", None)
    if origin is Literal:
        if value not in get_args(hint):
            raise ConfigError(f"{where}: key {key!r} must be one of {', '.join(map(repr, get_args(hint)))}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: key {key!r} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: key {key!r} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: key {key!r} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        return str(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) for v in value):
            raise ConfigError(f"{where}: key {key!r} must be a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    return value


def build(cls: type[C], values: Mapping[str, Any], where: str, base: C | None = None) -> C:
    """The frozen dataclass ``cls`` from ``values`` (on top of ``base`` when given): unknown keys
    and wrong types are refused, ints are accepted for floats and lists for tuples."""
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    clean = {k: _coerce(cls, k, v, where) for k, v in values.items()}
    return dataclasses.replace(base, **clean) if base is not None else cls(**clean)


def build_sections(sections: Mapping[str, type], data: Mapping[str, Any]) -> dict[str, Any]:
    """Section name -> dataclass built from ``data[name]`` (the inverse of ``dataclasses.asdict``)."""
    return {name: build(cls, data.get(name, {}), f"[{name}]") for name, cls in sections.items()}


def apply_tables(cfg: C, sections: Mapping[str, type], tables: Mapping[str, Any], where: str) -> C:
    """``cfg`` with each section overridden by the table of the same name in ``tables``."""
    unknown = sorted(set(tables) - set(sections))
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sections)}")
    parts = {name: build(cls, tables.get(name, {}), f"{where} [{name}]", getattr(cfg, name)) for name, cls in sections.items()}
    return dataclasses.replace(cfg, **parts)


def suite_tables(raw: Mapping[str, Any], suite: str, family: str, where: str) -> list[tuple[str, Mapping]]:
    """The ``[suites.<family>]`` then ``[suites.<suite>]`` tables of ``raw`` that exist, with where they are."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: 'suites' must be a table of suite (or family) names")
    out = []
    for key in (family, suite):  # family first, then the exact suite name wins
        if key and key in raw:
            out.append((f"{where}.{key}", raw[key]))
    return out


def apply_layers(cfg: C, sections: Mapping[str, type], raw: Mapping[str, Any], where: str, suite: str, family: str,
                 budget: str) -> C:
    """``cfg`` with the file ``raw``'s tables applied: its sections, then ``[suites.*]``, then
    ``[budgets.<budget>]``, then ``[budgets.<budget>.suites.*]`` (see the module docstring)."""
    layers: list[tuple[str, Mapping]] = [(where, {k: raw[k] for k in sections if k in raw})]
    layers += suite_tables(raw.get("suites", {}), suite, family, f"{where} [suites]")
    budgets = raw.get("budgets", {})
    unknown_b = sorted(set(budgets) - set(BUDGETS))
    if unknown_b:
        raise ConfigError(f"{where} [budgets]: unknown budget(s) {', '.join(map(repr, unknown_b))}; valid: {', '.join(BUDGETS)}")
    b = dict(budgets.get(budget, {}))
    b_suites = b.pop("suites", {})
    layers.append((f"{where} [budgets.{budget}]", b))
    layers += suite_tables(b_suites, suite, family, f"{where} [budgets.{budget}.suites]")
    for w, tables in layers:
        cfg = apply_tables(cfg, sections, tables, w)
    return cfg
