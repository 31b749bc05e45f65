"""Config dataclasses <-> absl flags and plain (JSON) values, from the dataclass alone.

``define_flags(cls)`` defines one flag per leaf field of a (nested) config dataclass: its
type from the annotation (bool, int, float, str, an enum where the field's metadata
declares ``choices``, a comma-separated list for tuples), its default from the dataclass,
its help from ``field(metadata={"help": ...})`` or else the class docstring's
``Attributes:`` entry. A field of a nested dataclass is named by its path, as in the
config's JSON: ``augment.flip`` is ``--augment.flip`` and ``{"augment": {"flip": ...}}``.

``config_from_flags`` builds the config back: the values of a config file (if any), then
every flag given on the command line (or in a ``--flagfile``) on top, then the
dataclass's defaults for the rest. ``from_dict`` builds a config from plain values (lists
for tuples, mappings for nested configs) and names the field of any value it cannot use.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

from absl import flags

from facenet_tf.errors import InvalidInputError

# Flags defined here belong to the module calling define_flags (its --helpshort lists them).
flags.disclaim_key_flags()

_ENTRY = re.compile(r"([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:\s*(.*)")


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One flag-valued field of a config tree.

    Attributes:
        name: dotted path from the root config (``augment.flip``).
        type: the resolved annotation.
        default: the default value, or ``dataclasses.MISSING`` when the field is required.
        help: one-line help text.
        choices: the allowed values, or None.
    """

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple | None = None


def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> text of the ``Attributes:`` section of ``cls``'s docstring.

    An entry may document several fields at once (``a, b, c: text``); continuation lines
    are indented deeper than the entries.
    """
    lines = (inspect.getdoc(cls) or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Attributes:"), None)
    if start is None:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        if depth == indent:
            match = _ENTRY.fullmatch(line.strip())
            if not match:
                break
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                docs[name] = match.group(2)
        else:
            for name in names:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_of(hint) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``), else None."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and len(typing.get_args(hint)) == 2 else None


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def leaves(cls: type, prefix: str = "", defaults: Any = None) -> list[Leaf]:
    """Every leaf field of the config dataclass ``cls``, nested dataclasses expanded.

    Args:
        cls: a dataclass.
        prefix: prepended to every name (``"augment."`` inside the parent).
        defaults: an instance whose values are the defaults (a parent's default of a
            nested config); None takes the class's own.

    Raises:
        TypeError: a field has no help text (a programming error, caught by the tests).
    """
    hints, docs = _hints(cls), attribute_docs(cls)
    out: list[Leaf] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        name, hint = prefix + field.name, hints[field.name]
        default = _default_of(field) if defaults is None else getattr(defaults, field.name)
        if dataclasses.is_dataclass(hint):
            nested = None if default is dataclasses.MISSING else default
            out.extend(leaves(hint, name + ".", nested))
            continue
        text = field.metadata.get("help") or docs.get(field.name, "").replace("``", "")
        if not text:
            raise TypeError(f"{cls.__name__}.{field.name}: no help text (docstring Attributes)")
        out.append(Leaf(name, hint, default, text, field.metadata.get("choices")))
    return out


def _flag_default(leaf: Leaf) -> Any:
    if leaf.default is dataclasses.MISSING or leaf.default is None:
        return None
    if typing.get_origin(leaf.type) is tuple:
        return [str(v) for v in leaf.default]
    return leaf.default


def define_flags(
    cls: type, flag_values: flags.FlagValues = flags.FLAGS, exclude: Sequence[str] = ()
) -> dict[str, flags.FlagHolder]:
    """Defines a flag for every leaf field of ``cls`` but those in ``exclude``.

    Returns:
        Leaf name -> its FlagHolder (for ``config_from_flags``).

    Raises:
        TypeError: a field has a type no flag can hold, or no help text.
    """
    holders = {}
    for leaf in leaves(cls):
        if leaf.name in exclude:
            continue
        args = (leaf.name, _flag_default(leaf), leaf.help)
        kwargs = {"flag_values": flag_values}
        if leaf.type is bool:
            holder = flags.DEFINE_boolean(*args, **kwargs)
        elif leaf.type is int:
            holder = flags.DEFINE_integer(*args, **kwargs)
        elif leaf.type is float:
            holder = flags.DEFINE_float(*args, **kwargs)
        elif leaf.type is str and leaf.choices:
            holder = flags.DEFINE_enum(args[0], args[1], list(leaf.choices), args[2], **kwargs)
        elif leaf.type is str:
            holder = flags.DEFINE_string(*args, **kwargs)
        elif typing.get_origin(leaf.type) is tuple:
            holder = flags.DEFINE_list(*args, **kwargs)
        else:
            raise TypeError(f"{leaf.name}: no flag type for {leaf.type!r}")
        holders[leaf.name] = holder
    return holders


def config_from_flags(
    cls: type, holders: Mapping[str, flags.FlagHolder], base: Mapping | None = None
) -> Any:
    """The config the parsed flags describe, on top of ``base`` (a config file's values).

    Only flags given on the command line (or in a flagfile) override ``base``; fields
    neither names keep the dataclass's defaults.

    Raises:
        InvalidInputError: naming the first field whose value cannot be used.
    """
    values = _deep_copy(base or {})
    for name, holder in holders.items():
        if not holder.present:
            continue
        *parents, last = name.split(".")
        node = values
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                _fail(".".join(parents[: i + 1]), f"expected a mapping, got {node!r}")
        node[last] = holder.value
    return from_dict(cls, values)


def _deep_copy(values: Mapping) -> dict:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in values.items()}


def from_dict(cls: type, values: Mapping, prefix: str = "") -> Any:
    """``cls`` built from plain values: lists for tuples, mappings for nested configs.

    Raises:
        InvalidInputError: naming an unknown or missing field, or a value of the wrong
            type (the dataclass's own validation may raise more).
    """
    if not isinstance(values, Mapping):
        _fail(prefix.rstrip(".") or cls.__name__, f"expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in values:
        if name not in fields:
            _fail(prefix + str(name), f"not a field of {cls.__name__} ({', '.join(fields)})")
    for name, field in fields.items():
        if name not in values and _default_of(field) is dataclasses.MISSING:
            _fail(prefix + name, "required")
    hints = _hints(cls)
    return cls(**{k: convert(v, hints[k], prefix + k) for k, v in values.items()})


def convert_fields(config: Any) -> None:
    """Converts every field of the (frozen) dataclass ``config`` to its declared type.

    Meant for ``__post_init__``: a config built from JSON-like values (lists, mappings)
    then holds tuples and nested configs, so it compares and serialises like any other.
    """
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        converted = convert(value, hints[field.name], field.name)
        if converted is not value:
            object.__setattr__(config, field.name, converted)


def convert(value: Any, hint: Any, name: str) -> Any:
    """``value`` as type ``hint``; InvalidInputError naming ``name`` when it cannot be."""
    inner = _optional_of(hint)
    if inner is not None:
        return None if value is None else convert(value, inner, name)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(hint) if f.init}
        return from_dict(hint, value, name + ".")
    if typing.get_origin(hint) is tuple:
        return _tuple(value, typing.get_args(hint), name)
    if hint is bool:
        if not isinstance(value, bool):
            _fail(name, f"expected true or false, got {value!r}")
        return value
    if hint is int:
        return _int(value, name)
    if hint is float:
        return _float(value, name)
    if hint is str:
        if not isinstance(value, str):
            _fail(name, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"{name}: unsupported config type {hint!r}")


def _tuple(value: Any, args: tuple, name: str) -> tuple:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        _fail(name, f"expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    elif len(value) != len(args):
        _fail(name, f"expected {len(args)} values, got {tuple(value)}")
    return tuple(convert(v, t, name) for v, t in zip(value, args, strict=True))


def _int(value: Any, name: str) -> int:
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    number = _float(value, name)
    if not number.is_integer():
        _fail(name, f"expected an integer, got {value!r}")
    return int(number)


def _float(value: Any, name: str) -> float:
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    _fail(name, f"expected a number, got {value!r}")


def _fail(name: str, message: str) -> typing.NoReturn:
    raise InvalidInputError(f"{name}: {message}")
