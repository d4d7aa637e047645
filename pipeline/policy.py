"""Policies: every number of domain.md that the platform may change (fee rates, day
ranges, share thresholds, deposits), as data.

A shipped policy is a folder `pipeline/policies/NAME/` with one TOML file per section
(`settlement.toml`, `shipping.toml`, ...). `default` holds every section; another shipped
policy (`2025`, `seed-era`) holds only what it changes and is merged over `default`.
A user's policy is one TOML file with sections as tables (`[settlement]`,
`[shipping]`, ...) and an optional `extends = "NAME"` (default `"default"`); it is merged
key by key over the policy it extends, so it needs only the numbers it changes.

`--policy` takes a shipped name or a file path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

DEFAULT = "default"


@dataclass(frozen=True)
class Policy:
    name: str
    data: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        try:
            return self.data[name]
        except KeyError:
            raise UsageError(f"{{opt:policy}} {self.name}: has no [{name}] section") from None


def shipped_names() -> list[str]:
    root = resources.files("pipeline") / "policies"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _shipped(name: str) -> dict[str, Any]:
    folder = resources.files("pipeline") / "policies" / name
    data: dict[str, Any] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data[entry.name.removesuffix(".toml")] = tomllib.loads(
                entry.read_text(encoding="utf-8")
            )
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into a copy of `base`, key by key; tables merge, values replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_policy(spec: str | None = None) -> Policy:
    """The policy named `spec` (shipped name or TOML file path); None is `default`."""
    names = shipped_names()
    if spec is None or spec == DEFAULT:
        return Policy(DEFAULT, _shipped(DEFAULT))
    if spec in names:
        return Policy(spec, merge(_shipped(DEFAULT), _shipped(spec)))
    path = Path(spec)
    if not path.is_file():
        raise UsageError(
            f"{{opt:policy}} {spec}: no such file, and not a shipped policy (shipped: {', '.join(names)})"
        )
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{{opt:policy}} {spec}: not a valid TOML file ({exc})") from None
    base_name = user.pop("extends", DEFAULT)
    if base_name not in names:
        raise UsageError(
            f"{{opt:policy}} {spec}: extends unknown policy {base_name!r} (shipped: {', '.join(names)})"
        )
    base = load_policy(base_name)
    return Policy(str(path), merge(base.data, user))
