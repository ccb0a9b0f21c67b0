"""Typed configuration: one dataclass per verb, YAML overrides defaults, CLI flags override YAML.

The resolved configuration is saved beside a verb's outputs (``config.yaml``), so
every folder semgen writes says exactly how it was made.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from semgen.utils.io import atomic_write

log = logging.getLogger(__name__)

C = TypeVar("C")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Bring a YAML/CLI value to the field's annotated type (tuples from lists, Path from str)."""
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(value, non_none[0], where)
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, where) for v in value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is Path:
        return Path(value)
    if annotation in (int, float, str, bool) and not isinstance(value, annotation):
        raise ValueError(f"{where}: expected {annotation.__name__}, got {value!r}")
    return value


def build_config(cls: type[C], yaml_path: str | os.PathLike | None = None, **overrides: Any) -> C:
    """Defaults of ``cls``, then the YAML file, then ``overrides`` whose value is not None.

    A key under a former name (``cls.RENAMED``, e.g. ``patch_size`` -> ``patch``) is read as the
    current one, with a warning, so configuration files of earlier releases keep working.
    Raises ``ValueError`` naming the file and key for unknown keys, wrong types, or an option
    given under both names.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if yaml_path is not None:
        try:
            with open(yaml_path) as f:
                loaded = yaml.safe_load(f) or {}
        except OSError as e:
            raise ValueError(f"{yaml_path}: cannot read configuration ({e.strerror})") from None
        except yaml.YAMLError as e:
            raise ValueError(f"{yaml_path}: not valid YAML ({e})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{yaml_path}: expected a mapping of option: value")
        loaded = upgrade_keys(cls, loaded, str(yaml_path))
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise ValueError(f"{yaml_path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        values.update({k: _coerce(v, hints[k], f"{yaml_path}: {k}") for k, v in loaded.items()})
    for k, v in upgrade_keys(cls, overrides, cls.__name__).items():
        if k not in names:
            raise ValueError(f"unknown option {k!r} for {cls.__name__}")
        if v is not None:
            values[k] = _coerce(v, hints[k], f"--{k.replace('_', '-')}")
    return cls(**values)


def upgrade_keys(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` with the former option names of ``cls`` (``cls.RENAMED``: old -> new, see
    :class:`semgen.stage.StageConfig`) replaced by the current ones, one warning per renamed
    key; ``ValueError`` naming ``where`` when both names are given."""
    renamed = getattr(cls, "RENAMED", {})
    out: dict[str, Any] = {}
    for key, value in values.items():
        new = renamed.get(key)
        if new is None:
            out[key] = value
            continue
        if new in values:
            raise ValueError(f"{where}: {key!r} is the former name of {new!r}; give only {new!r}")
        log.warning("%s: option %r is now called %r (the old name is read until the next release)", where, key, new)
        out[new] = value
    return out


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """:func:`build_config` from a parsed namespace: ``args.config`` is the YAML file and every
    attribute named like a field (and not None) overrides it."""
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    return build_config(cls, getattr(args, "config", None), **overrides)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict of a config dataclass (paths as strings, tuples as lists), fit for YAML/JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Write the resolved configuration as YAML, atomically."""
    with atomic_write(path) as f:
        yaml.safe_dump(config_to_dict(cfg), f, sort_keys=False)
