"""The building blocks of the spec models: field types, the base model and the error translation.

Context
-------
:mod:`circuitlab.experiments.spec` declares the spec tree with the types defined
here. Each type is an ``Annotated`` pydantic type whose validators do what the
hand-written checks did before the models were pydantic: they accept exactly
what a TOML/YAML file or a ``--set`` flag gives and say what is wrong in the
words of the spec (``expected a positive integer, got -3.``):

* a scalar given for a list field becomes a one-item list (``--set grid.k=6``);
* an integral float such as ``6.0`` is an integer where one is expected (and a
  count, not a fraction, for ``int | float``);
* integers (and numeric strings, as YAML reads ``5e-5``) are accepted for floats;
* nothing else is converted: models are *strict* (``"true"`` is not a bool).

Validators raise :class:`Invalid` (a path relative to where pydantic reports the
error, and a message); :func:`describe_error` turns the first error of a
:class:`pydantic.ValidationError` into the dotted path with indices of the bad
field (``grid.shots[1]``) and today's message, with the "did you mean" hints
for unknown fields and bad choices.
"""

from __future__ import annotations

import copy
import difflib
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from circuitlab.errors import UserError

Identity = Literal[True, False, "unless-default"]


class SpecError(UserError):
    """A spec is invalid. ``field`` is the dotted path of the bad field (``"grid.shots[1]"``).

    ``str(error)`` is ``"<source>: <field>: <message>"`` (each part only when known).
    """

    def __init__(self, field_path: str, message: str, source: str | None = None) -> None:
        self.field = field_path
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field_path}: {message}" if field_path else f"{where}{message}")


class Invalid(ValueError):
    """Raised by a validator: ``sub`` is the bad part below the validated value (``"[1]"``, ``"n_src"``, ``""``)."""

    def __init__(self, sub: str, message: str) -> None:
        super().__init__(message)
        self.sub = sub
        self.message = message


def did_you_mean(value: Any, choices: typing.Iterable[Any]) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    guess = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" Did you mean {guess[0]!r}?" if guess else ""


def join_path(base: str, sub: str) -> str:
    """``join_path("grid.shots", "[1]") == "grid.shots[1]"``; ``join_path("tuning", "lr") == "tuning.lr"``."""
    if not sub:
        return base
    if not base:
        return sub
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def loc_path(loc: tuple[Any, ...]) -> str:
    """A pydantic location as a dotted path with indices: ``("grid", "shots", 1)`` -> ``"grid.shots[1]"``."""
    path = ""
    for part in loc:
        path = join_path(path, f"[{part}]" if isinstance(part, int) else str(part))
    return path


# -- leaf types ---------------------------------------------------------------------------------


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        return int(v)
    raise Invalid("", f"expected an integer, got {v!r}.")


def _float(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise Invalid("", f"expected a number, got {v!r}.")


def _count(v: Any) -> int | float:
    """int before float, so that 6 (and 6.0) stays a count and 0.05 a fraction."""
    try:
        return _int(v)
    except Invalid:
        pass
    try:
        x = _float(v)
    except Invalid:
        raise Invalid("", f"expected an integer or a number, got {v!r}.") from None
    return int(x) if x.is_integer() and abs(x) >= 1 else x


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise Invalid("", f"expected true or false, got {v!r}.")


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise Invalid("", f"expected a string, got {v!r}.")


def _opt_str(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise Invalid("", f"expected a string or nothing (omit the field), got {v!r}.")


def _table(v: Any) -> dict[str, Any]:
    if isinstance(v, Mapping):
        return {str(k): copy.deepcopy(x) for k, x in v.items()}
    raise Invalid("", f"expected a table, got {v!r}.")


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, tuple):
        return list(v)
    return [v]


def _check(cond: Any, message: str) -> Any:
    def check(v: Any) -> Any:
        if not cond(v):
            raise Invalid("", message.format(v=v))
        return v

    return check


Int = Annotated[int, BeforeValidator(_int)]
PositiveInt = Annotated[int, BeforeValidator(_int), AfterValidator(_check(lambda v: v >= 1,
                                                                          "expected a positive integer, got {v}."))]
NonNegativeInt = Annotated[int, BeforeValidator(_int), AfterValidator(_check(lambda v: v >= 0,
                                                                             "expected an integer >= 0, got {v}."))]
Float = Annotated[float, BeforeValidator(_float)]
LearningRate = Annotated[float, BeforeValidator(_float), AfterValidator(_check(
    lambda v: v > 0, "expected a positive learning rate, got {v}."))]
Fraction = Annotated[float, BeforeValidator(_float), AfterValidator(_check(
    lambda v: 0 <= v < 1, "expected a fraction in [0, 1), got {v}."))]
NonNegativeFloat = Annotated[float, BeforeValidator(_float), AfterValidator(_check(lambda v: v >= 0,
                                                                                   "expected >= 0, got {v}."))]
Count = Annotated[int | float, BeforeValidator(_count)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Str = Annotated[str, BeforeValidator(_str)]
OptionalStr = Annotated[str | None, BeforeValidator(_opt_str)]
Table = Annotated[dict[str, Any], BeforeValidator(_table)]

T = TypeVar("T")
#: A list that also takes one scalar (``--set grid.k=6`` -> ``[6]``).
ListOf = Annotated[list[T], BeforeValidator(_as_list)]


def spec_field(default: Any = ..., help: str = "", identity: Identity = True, factory: Any = None,
               **kwargs: Any) -> Any:
    """A model field with its help text and whether it belongs to the run's identity.

    ``identity=False``: where the data lives or how the work runs (left out of the fingerprint).
    ``identity="unless-default"``: a field added after runs existed; at its default it leaves the
    fingerprint (and every cell id) as it was.
    """
    extra = {"identity": identity}
    if factory is not None:
        return Field(default_factory=factory, description=help, json_schema_extra=extra, **kwargs)
    return Field(default, description=help, json_schema_extra=extra, **kwargs)


def identity_rule(info: Any) -> Identity:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return extra.get("identity", True)


class SpecModel(BaseModel):
    """Base of every spec section: frozen, strict, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _any_mapping(cls, data: Any) -> Any:
        """Any mapping is a table (strict models take only dicts)."""
        return dict(data) if isinstance(data, Mapping) and not isinstance(data, dict) else data

    def identity(self) -> dict[str, Any]:
        """The fields that decide results (all but ``identity=False`` ones, and ``"unless-default"`` ones at
        their default), as plain data."""
        return identity_of(self)


def stable_hash(obj: Any, n: int | None = None) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace); the same in every process and on every host."""
    import hashlib
    import json

    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest[:n] if n else digest


def plain(obj: Any) -> Any:
    """Models, dicts, lists and tuples as plain dicts and lists (keys as strings)."""
    if isinstance(obj, BaseModel):
        return plain(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def identity_of(obj: Any) -> Any:
    """The identity fields of a spec model (``spec.tuning.for_method("full")`` too), as plain data."""
    if isinstance(obj, BaseModel):
        out = {}
        for name, info in type(obj).model_fields.items():
            rule, value = identity_rule(info), getattr(obj, name)
            if rule is True or (rule == "unless-default" and value != info.get_default(call_default_factory=True)):
                out[name] = identity_of(value)
        return out
    return plain(obj)


# -- errors -------------------------------------------------------------------------------------


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation at ``loc`` below ``root`` (a model class, or a field's annotation), or ``None``."""
    node: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)) or part not in node.model_fields:
            return None
        node = node.model_fields[part].annotation
    return node


def describe_error(exc: ValidationError, root: type[BaseModel]) -> tuple[str, str]:
    """``(field path, message)`` of the first error of ``exc`` (raised validating ``root``)."""
    err = exc.errors(include_url=False)[0]
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    path = loc_path(loc)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return join_path(path, cause.sub), cause.message
    if isinstance(cause, SpecError):
        return join_path(path, cause.field), cause.message
    if isinstance(cause, BaseException):
        return path, str(cause)
    if kind == "extra_forbidden":
        owner, key = _model_at(root, loc[:-1]), str(loc[-1])
        names = list(owner.model_fields) if owner is not None else []
        prefix = loc_path(loc[:-1])
        where = f"[{prefix}]" if prefix else "the top level"
        return path, f"unknown field in {where}; valid fields: {', '.join(names)}.{did_you_mean(key, names)}"
    if kind == "literal_error":
        tp = _model_at(root, loc)
        choices = typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
        listed = ", ".join(repr(c) for c in choices) or err.get("ctx", {}).get("expected", "")
        return path, f"expected one of {listed}, got {value!r}.{did_you_mean(value, choices)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a table, got {value!r}."
    return path, f"{err['msg']}, got {value!r}."


def spec_error(exc: ValidationError, root: type[BaseModel], source: str | None = None) -> SpecError:
    """The :class:`SpecError` for the first error of ``exc``."""
    return SpecError(*describe_error(exc, root), source)


__all__ = [
    "Bool", "Count", "Float", "Fraction", "Int", "Invalid", "LearningRate", "ListOf", "NonNegativeFloat",
    "NonNegativeInt", "OptionalStr", "PositiveInt", "SpecError", "SpecModel", "Str", "Table", "describe_error",
    "did_you_mean", "identity_of", "identity_rule", "join_path", "loc_path", "plain", "spec_error", "spec_field",
    "stable_hash",
]
