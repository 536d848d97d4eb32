"""Frozen-dataclass configs with YAML files and dotted ``key=value`` overrides.

Every stage defines its own frozen dataclass tree; this module only knows how to
build one from a preset, an optional YAML file and overrides, and how to turn it
back into plain dicts (saved into every dataset, run and checkpoint).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> Any:
    """Dataclass tree -> plain JSON-able dict (tuples become lists)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    return cfg


def _fingerprint_dict(cfg: Any) -> Any:
    """``to_dict`` minus the fields a class lists in ``FINGERPRINT_OMIT_DEFAULTS`` while they hold their
    default: options added later then leave the fingerprints of existing configs (and stores) unchanged."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        omit = getattr(type(cfg), "FINGERPRINT_OMIT_DEFAULTS", ())
        out = {}
        for f in dataclasses.fields(cfg):
            v = getattr(cfg, f.name)
            if f.name in omit and f.default is not dataclasses.MISSING and v == f.default:
                continue
            out[f.name] = _fingerprint_dict(v)
        return out
    if isinstance(cfg, (list, tuple)):
        return [_fingerprint_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): _fingerprint_dict(v) for k, v in cfg.items()}
    return cfg


def fingerprint(cfg: Any, exclude: tuple[str, ...] = ()) -> str:
    """Stable short hash of a config (top-level keys in ``exclude`` are ignored)."""
    d = _fingerprint_dict(cfg)
    for k in exclude:
        d.pop(k, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML/CLI value to the annotated field type, or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: cannot interpret {value!r} as {tp}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return type(value)(_coerce(v, inner, key) for v in value) if origin is list else tuple(
            _coerce(v, inner, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if not f.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build a dataclass from a (partial) mapping; unknown keys raise ConfigError."""
    types_ = _field_types(cls)
    unknown = set(data) - set(types_)
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigError(f"unknown config key '{prefix}{k}' (valid: {', '.join(sorted(types_))})")
    kwargs = {}
    defaults = cls()  # every config class has full defaults
    for name, tp in types_.items():
        if name in data:
            kwargs[name] = _coerce(data[name], tp, prefix + name)
        else:
            kwargs[name] = getattr(defaults, name)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two plain dicts (update wins)."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_overrides(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["radio.bandwidth=4e8", "seed=3"]`` -> nested dict; values parsed as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with another override")
        node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse {p}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    return data


def resolve(cls: type[T], presets: Mapping[str, Mapping[str, Any]], preset: str | None = None,
            yaml_path: str | Path | None = None, overrides: list[str] | None = None,
            extra: Mapping[str, Any] | None = None) -> T:
    """Preset (a partial dict over the defaults) <- YAML file <- ``extra`` <- dotted overrides."""
    data: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset '{preset}' (choose from {', '.join(presets)})")
        data = merge(data, presets[preset])
    if yaml_path is not None:
        data = merge(data, load_yaml(yaml_path))
    if extra:
        data = merge(data, extra)
    data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data)


def to_yaml(cfg: Any) -> str:
    """A config (or a {name: config} tree) as YAML that ``--config`` reads back to the same config."""
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)
