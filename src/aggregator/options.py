"""Typed options: one declaration per key, from which validation, docs and the JSON Schema come.

Every plugin kind (price sources, availability models, solver backends,
model extensions) and the core scenario tables declare their keys as
:class:`Option` objects: type, unit, default, allowed range, description.
From that one declaration come

- the check of a scenario table (:func:`validate_options`): an unknown key
  is an error with a did-you-mean, a wrong type or a value out of range is an
  error naming the table, the key, the value and what was expected, in the
  project's one-line form (``[extensions.grid_limit] kw = -1: expected a
  number of kW >= 0``);
- the option tables of ``aggregator plugins --verbose`` and of the docs
  (:func:`describe_option`);
- the JSON Schema of the scenario file (:func:`options_schema`, assembled by
  :func:`aggregator.scenario_schema.scenario_json_schema`).

The typed part is JSON Schema itself, checked by the `jsonschema
<https://python-jsonschema.readthedocs.io>`_ package: each :class:`Option`
*is* a fragment of the published schema, so what an editor checks and what
``aggregator run`` checks cannot drift apart.  Numbers are finite (JSON has
no ``inf`` or ``nan``), integers are whole numbers written without a point,
and ``true``/``false`` is never a number.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import jsonschema

__all__ = [
    "Option",
    "as_option",
    "validate_options",
    "validate_value",
    "options_schema",
    "describe_option",
    "unknown_key_error",
    "toml_repr",
    "is_number",
    "DAY_NAMES",
    "DAY_GROUPS",
    "DAYS",
    "parse_days",
]

_JSON_TYPES = {
    float: "number",
    int: "integer",
    str: "string",
    dt.date: "string",  # a TOML date or date-time; JSON has only its ISO string
    bool: "boolean",
    dict: "object",
    list: "array",
}
_TYPE_WORDS = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
    "object": "a table",
    "array": "an array",
}


def _is_number(checker: Any, value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@functools.cache
def _validator() -> Any:
    """The JSON Schema validator class (jsonschema is imported on the first value the plain checks do not pass)."""
    import jsonschema.validators

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _is_number).redefine(
            "integer", _is_integer
        ),
    )


#: The checks of the options of one plain type (no choices, items or further schema), as the validator does them.
_PLAIN_CHECKS = {float: _is_number, int: _is_integer, str: lambda checker, v: isinstance(v, str),
                 bool: lambda checker, v: isinstance(v, bool)}


def _plainly_valid(option: "Option", value: Any) -> bool:
    """Whether a value of an option of one plain type is valid, without jsonschema (False: ask it).

    Only a yes is final: the validator is asked about anything else, and
    writes the message.
    """
    check = _PLAIN_CHECKS.get(option.type)
    if check is None or option.choices or option.items is not None or option.schema or not check(None, value):
        return False
    if option.type in (float, int):
        return (
            (option.minimum is None or value >= option.minimum)
            and (option.maximum is None or value <= option.maximum)
            and (option.exclusive_minimum is None or value > option.exclusive_minimum)
            and (option.exclusive_maximum is None or value < option.exclusive_maximum)
        )
    return True


def toml_repr(value: Any) -> str:
    """A value as it is written in TOML (``true``, not ``True``), for messages.

    Parameters
    ----------
    value : object

    Returns
    -------
    str

    Examples
    --------
    >>> toml_repr(True), toml_repr(-1), toml_repr({"a": 1}), toml_repr("x")
    ('true', '-1', 'a table', "'x'")
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def unknown_key_error(key: str, known: Any, where: str) -> InputError:
    """The error for a key that is not declared, with a did-you-mean.

    Parameters
    ----------
    key : str
        The key found.
    known : iterable of str
        The declared keys.
    where : str
        The table, for the message (``"[prices]"``).

    Returns
    -------
    InputError

    Examples
    --------
    >>> str(unknown_key_error("pth", ["path", "column"], "[prices]"))
    "[prices]: unknown key 'pth'; did you mean 'path'? (expected one of column, path)"
    """
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(f"{where}: unknown key {key!r}{hint} (expected one of {', '.join(known) or 'none'})")


@dataclass(frozen=True)
class Option:
    """One typed key of a scenario table.

    Parameters
    ----------
    type : type or tuple of type
        ``float`` (any finite number), ``int``, ``str``, ``bool``, ``dict``
        (a table), ``list`` (an array), a tuple of these, or ``object`` for
        any TOML value (the plugin checks it).
    description : str
        One line for the docs and ``aggregator plugins --verbose``.
    unit : str
        Unit of a number (``"kW"``, ``"$/MWh"``, ``"hours"``), shown in
        messages and docs.
    default : object, optional
        Value filled in when the key is absent; ``None`` leaves it absent.
    required : bool
        The key must be given.
    minimum, maximum : float, optional
        Inclusive bounds of a number (of each element of an array of numbers).
    exclusive_minimum, exclusive_maximum : float, optional
        Exclusive bounds.
    choices : tuple, optional
        The allowed values.
    items : Option, optional
        The type of each element of an array (default: numbers within the
        bounds above when ``type`` includes ``float`` and ``list``).
    schema : mapping, optional
        Further JSON Schema keywords (for nested tables and arrays of tables).
    expected : str, optional
        The "expected ..." phrase of messages, when the generated one says too little.

    Examples
    --------
    >>> kw = Option(float, "import limit", unit="kW", minimum=0)
    >>> kw.expected_phrase()
    'a number of kW >= 0'
    >>> validate_value(kw, -1, "[extensions.grid_limit] kw")
    Traceback (most recent call last):
    ...
    aggregator.errors.InputError: [extensions.grid_limit] kw = -1: expected a number of kW >= 0
    """

    type: Any = object
    description: str = ""
    unit: str = ""
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    choices: tuple[Any, ...] = ()
    items: "Option | None" = None
    schema: Mapping[str, Any] | None = field(default=None, compare=False)
    expected: str = ""

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types of the option (empty for any value)."""
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        if object in kinds:
            return ()
        return tuple(dict.fromkeys(_JSON_TYPES[k] for k in kinds))

    def _bounds(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, word in (
            ("minimum", "minimum"),
            ("maximum", "maximum"),
            ("exclusive_minimum", "exclusiveMinimum"),
            ("exclusive_maximum", "exclusiveMaximum"),
        ):
            value = getattr(self, key)
            if value is not None:
                out[word] = value
        return out

    def json_schema(self) -> dict[str, Any]:
        """This option as a JSON Schema fragment (what is validated and published).

        Returns
        -------
        dict
        """
        out: dict[str, Any] = {}
        if self.description or self.unit:
            out["description"] = self.description + (f" ({self.unit})" if self.unit else "")
        if self.default is not None:
            out["default"] = self.default
        if self.choices:
            out["enum"] = list(self.choices)
        branches = []
        for kind in self.types:
            branch: dict[str, Any] = {"type": kind}
            if kind in ("number", "integer"):
                branch.update(self._bounds())
            if kind == "array":
                if self.items is not None:
                    branch["items"] = self.items.json_schema()
                elif "number" in self.types:
                    branch["items"] = {"type": "number", **self._bounds()}
            branches.append(branch)
        if len(branches) == 1:
            out.update(branches[0])
        elif branches:
            out["anyOf"] = branches
        if self.schema:
            out.update(self.schema)
        return out

    def expected_phrase(self) -> str:
        """What a value must be, in words (``"a number of kW >= 0"``).

        Returns
        -------
        str
        """
        if self.expected:
            return self.expected
        if self.choices:
            return "one of " + ", ".join(toml_repr(c) for c in self.choices)
        types = self.types
        numeric = [t for t in types if t in ("number", "integer")]
        if not types:
            return "a value"
        words = [_TYPE_WORDS[t] for t in types if t not in ("number", "integer", "array")]
        if numeric:
            scalar = _TYPE_WORDS["number" if "number" in numeric else "integer"]
            if self.unit and self.unit != "1":
                scalar += f" of {self.unit}"
            scalar += self._range_words()
            if "array" in types and self.items is None:
                scalar += " or an array of them, one per step"
            words.insert(0, scalar)
        elif "array" in types:
            words.append("an array" + (f" of {self.items.plural_phrase()}" if self.items else ""))
        return " or ".join(words)

    def plural_phrase(self) -> str:
        """What the elements of an array must be (``"strings"``, ``"numbers >= 0"``).

        Returns
        -------
        str
        """
        plurals = {"string": "strings", "number": "numbers", "integer": "integers", "object": "tables",
                   "boolean": "true or false values", "array": "arrays"}
        if len(self.types) == 1 and not self.choices and not self.expected:
            return plurals[self.types[0]] + self._range_words()
        return "values that are each " + self.expected_phrase()

    def _range_words(self) -> str:
        low = self.minimum if self.minimum is not None else self.exclusive_minimum
        high = self.maximum if self.maximum is not None else self.exclusive_maximum
        if low is not None and high is not None:
            left = "[" if self.minimum is not None else "("
            right = "]" if self.maximum is not None else ")"
            return f" in {left}{low:g}, {high:g}{right}"
        if low is not None:
            return f" {'>=' if self.minimum is not None else '>'} {low:g}"
        if high is not None:
            return f" {'<=' if self.maximum is not None else '<'} {high:g}"
        return ""


def as_option(declared: Any) -> Option:
    """An :class:`Option` from a declaration (a plain description string is an untyped option).

    Parameters
    ----------
    declared : Option or str

    Returns
    -------
    Option

    Examples
    --------
    >>> as_option("CSV file").description, as_option("CSV file").types
    ('CSV file', ())
    """
    if isinstance(declared, Option):
        return declared
    return Option(object, str(declared))


def _plain(value: Any) -> Any:
    """TOML dates and times as ISO strings (JSON has no date type)."""
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _path_words(path: Any) -> str:
    words = ""
    for part in path:
        words += f"[{part}]" if isinstance(part, int) else f" {part}"
    return words


def _error_phrase(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "enum":
        return "one of " + ", ".join(toml_repr(c) for c in error.validator_value)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return f"a number {sign} {error.validator_value:g}"
    if kind == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    if kind == "required":
        return "the keys " + ", ".join(repr(k) for k in error.validator_value)
    return schema.get("description") or error.message


def validate_value(option: Option, value: Any, where: str) -> None:
    """Check one value against its option.

    Parameters
    ----------
    option : Option
    value : object
    where : str
        The table and key (``"[prices] price"``), for the message.

    Raises
    ------
    InputError
        ``"{where} = {value}: expected {what}"`` (one line; for an element of
        an array or a nested table, its place is named).
    """
    if _plainly_valid(option, value):
        return
    schema = option.json_schema()
    if not schema:
        return
    errors = list(_validator()(schema).iter_errors(_plain(value)))
    if not errors:
        return
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(errors)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = (error.schema or {}).get("properties", {})
        extra = sorted(set(error.instance) - set(allowed))
        raise unknown_key_error(extra[0], allowed, f"{where}{_path_words(error.absolute_path)}")
    if not error.absolute_path or error.validator == "anyOf":
        raise InputError(f"{where} = {toml_repr(value)}: expected {option.expected_phrase()}")
    found = error.instance
    raise InputError(
        f"{where}{_path_words(error.absolute_path)} = {toml_repr(found)}: expected {_error_phrase(error)}"
    )


def validate_options(
    declared: Mapping[str, Any] | None, table: Mapping[str, Any], where: str, *, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check a scenario table against its declared options and fill in the defaults.

    Parameters
    ----------
    declared : mapping of str to Option (or description str), or None
        The declared keys; ``None`` checks nothing (an undeclared legacy extension).
    table : mapping
        The table as read from TOML.
    where : str
        The table, for messages (``"[extensions.grid_limit]"``).
    skip : tuple of str
        Keys that belong to the caller (``"source"``, ``"model"``): allowed and
        left out of the result.

    Returns
    -------
    dict
        The table without ``skip`` keys, with the defaults of absent keys.

    Raises
    ------
    InputError
        An unknown key (with a did-you-mean), a missing required key, or a
        value of the wrong type or out of range.

    Examples
    --------
    >>> spec = {"kw": Option(float, unit="kW", minimum=0, required=True),
    ...         "fleets": Option(list, items=Option(str))}
    >>> validate_options(spec, {"kw": 5}, "[extensions.grid_limit]")
    {'kw': 5}
    >>> validate_options(spec, {"kw": 5, "fleet": ["a"]}, "[extensions.grid_limit]")
    Traceback (most recent call last):
    ...
    aggregator.errors.InputError: [extensions.grid_limit]: unknown key 'fleet'; did you mean 'fleets'? (expected one of fleets, kw)
    """
    out = {k: v for k, v in table.items() if k not in skip}
    if declared is None:
        return out
    options = {key: as_option(value) for key, value in declared.items()}
    for key in out:
        if key not in options:
            raise unknown_key_error(key, set(options) | set(skip), where)
    for key, option in options.items():
        if key in out:
            validate_value(option, out[key], f"{where} {key}")
        elif option.required:
            what = f" ({option.description})" if option.description else ""
            raise InputError(f"{where} needs `{key} = ...`{what}")
        elif option.default is not None:
            out[key] = option.default
    return out


def options_schema(
    declared: Mapping[str, Any] | None, *, extra: Mapping[str, Any] | None = None, closed: bool = True
) -> dict[str, Any]:
    """The JSON Schema of a table with these options.

    Parameters
    ----------
    declared : mapping of str to Option (or description str), or None
        ``None``: a table of any keys.
    extra : mapping, optional
        Further properties (JSON Schema fragments), e.g. ``{"source": {"const": "csv"}}``.
    closed : bool
        Forbid keys that are not declared (``additionalProperties: false``).

    Returns
    -------
    dict
    """
    if declared is None:
        return {"type": "object"}
    options = {key: as_option(value) for key, value in declared.items()}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {**{k: o.json_schema() for k, o in options.items()}, **dict(extra or {})},
    }
    required = [k for k, o in options.items() if o.required]
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def describe_option(option: Any) -> str:
    """One line on an option: its type and range, default and description (no markup).

    Parameters
    ----------
    option : Option or str

    Returns
    -------
    str

    Examples
    --------
    >>> describe_option(Option(float, "import limit", unit="kW", minimum=0, required=True))
    'import limit; a number of kW >= 0; required'
    >>> describe_option(Option(int, "random seed", minimum=0, default=0))
    'random seed; an integer >= 0; default 0'
    """
    option = as_option(option)
    parts = [option.description] if option.description else []
    if option.types or option.choices or option.expected:
        parts.append(option.expected_phrase())
    if option.required:
        parts.append("required")
    elif option.default is not None:
        parts.append(f"default {toml_repr(option.default).strip(chr(39))}")
    return "; ".join(parts)


# ------------------------------------------------- shared value shapes
def is_number(value: Any) -> bool:
    """Whether a TOML value is a finite number (``true``/``false`` is not).

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_number(3), is_number(2.5), is_number(True), is_number(float("nan")), is_number("1")
    (True, True, False, False, False)
    """
    return _is_number(None, value)


#: Weekday names accepted in ``days`` (Monday is 0, as in pandas).
DAY_NAMES: dict[str, int] = {
    name: i
    for i, names in enumerate(
        [("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"), ("thu", "thursday"),
         ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday")]
    )
    for name in names
}
#: Groups of weekdays accepted in ``days``.
DAY_GROUPS: dict[str, frozenset[int]] = {
    "all": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_DAYS_EXPECTED = '"all", "weekdays", "weekends" or a list of day names such as ["sat", "sun"]'
#: The option of a ``days`` key: a group of weekdays or a list of day names.
DAYS = Option(
    (str, list),
    "the weekdays it applies to",
    default="all",
    expected=_DAYS_EXPECTED,
    schema={"anyOf": [{"enum": sorted(DAY_GROUPS)},
                      {"type": "array", "minItems": 1, "items": {"enum": sorted(DAY_NAMES)}}]},
)


def parse_days(raw: Any, key: str) -> frozenset[int]:
    """The weekdays (Monday is 0) of a ``days`` value (see :data:`DAYS`).

    Parameters
    ----------
    raw : object
        ``"all"``, ``"weekdays"``, ``"weekends"`` or a list of day names
        (``"mon"`` or ``"monday"``, any case).
    key : str
        The key, for the message.

    Returns
    -------
    frozenset of int

    Raises
    ------
    InputError
        ``"{key} = {raw}: expected ..."``.

    Examples
    --------
    >>> sorted(parse_days("weekends", "days")), sorted(parse_days(["Mon", "friday"], "days"))
    ([5, 6], [0, 4])
    """
    if isinstance(raw, str) and raw in DAY_GROUPS:
        return DAY_GROUPS[raw]
    if isinstance(raw, list) and raw and all(isinstance(d, str) and d.lower() in DAY_NAMES for d in raw):
        return frozenset(DAY_NAMES[d.lower()] for d in raw)
    raise InputError(f"{key} = {raw!r}: expected {_DAYS_EXPECTED}")
