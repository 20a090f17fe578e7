"""What each parameter accepts, checked before a corpus is built or a model trained.

The same rules serve a system's parameters (``param_rules``), a corpus reader's options
(``corpus_options.*``), an ASR back-end's settings (``asr_params.*``) and the options of the
other commands (:data:`harness.checks.COMMAND_OPTION_RULES`).

Why: a system's ``__init__`` only stores (the estimator contract), so a bad value used to surface
deep in a fit, after the corpus was built and the features computed, as a library's traceback
(``C=-1`` reached scikit-learn's LogisticRegression). Each system now declares one small
:class:`Rule` per parameter in ``param_rules``; :func:`check_param_values` applies them to the
resolved config (YAML, profile, overrides) and raises one :class:`HarnessError` that names the
parameter, what it accepts, and a ``fix:`` that works when pasted (the YAML's own value).

The rules say what is *valid*, never what is *good*: a system's paper values live in its YAML.
A test keeps the two in step: every parameter of every registered system has a rule, and every
YAML value and profile passes its rules.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from harness.errors import HarnessError, did_you_mean


@dataclass(frozen=True)
class Rule:
    """A test for one parameter's value and the words for what it accepts."""

    accepts: Callable[[Any], bool]
    wants: str
    fields: Mapping[str, Rule] | None = None
    """For a mapping parameter: the rule of each key (checked key by key, so errors name it)."""

    def problem(self, value: Any) -> tuple[str, str | None]:
        """``(sub_key, wants)`` for the first thing wrong with ``value``, or ``("", None)``.
        ``wants`` is ``""`` when ``sub_key`` is a key the mapping does not have."""
        if self.fields is not None and isinstance(value, Mapping):
            unknown = sorted(set(value) - set(self.fields), key=str)
            if unknown:
                return str(unknown[0]), ""
            for key, rule in self.fields.items():
                if key in value:
                    sub, wants = rule.problem(value[key])
                    if wants is not None:
                        return (f"{key}.{sub}" if sub else key), wants
            return "", None
        return "", (None if self.accepts(value) else self.wants)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (YAML's ``true`` is an int to Python)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _bounds(gt=None, ge=None, lt=None, le=None) -> tuple[Callable[[float], bool], str]:
    tests, words = [], []
    if gt is not None:
        tests.append(lambda v: v > gt)
        words.append(f"> {gt}")
    if ge is not None:
        tests.append(lambda v: v >= ge)
        words.append(f">= {ge}")
    if lt is not None:
        tests.append(lambda v: v < lt)
        words.append(f"< {lt}")
    if le is not None:
        tests.append(lambda v: v <= le)
        words.append(f"<= {le}")
    return (lambda v: all(t(v) for t in tests)), (" " + " and ".join(words) if words else "")


def number(*, gt=None, ge=None, lt=None, le=None) -> Rule:
    """A real number (an int is a number) within the given bounds."""
    inside, said = _bounds(gt, ge, lt, le)
    return Rule(lambda v: is_number(v) and inside(float(v)), f"a number{said}")


def integer(*, gt=None, ge=None, lt=None, le=None) -> Rule:
    """A whole number within the given bounds (``True`` is not one)."""
    inside, said = _bounds(gt, ge, lt, le)
    return Rule(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and inside(v), f"an integer{said}"
    )


def flag() -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false")


def choice(*values: Any) -> Rule:
    """One of ``values`` (compared by equality, so ``choice("a", None)`` accepts ``null``)."""
    shown = ", ".join(pasteable(v) for v in values)
    return Rule(lambda v: any(v == x and type(v) is type(x) for x in values), f"one of {shown}")


def text() -> Rule:
    """A non-empty string: a local path, a hub id or a registry name."""
    return Rule(lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty name or path")


def optional(rule: Rule) -> Rule:
    """``rule``, or ``null``."""
    return Rule(lambda v: v is None or rule.accepts(v), f"{rule.wants}, or null", rule.fields)


def either(*rules: Rule) -> Rule:
    return Rule(lambda v: any(r.accepts(v) for r in rules), " or ".join(r.wants for r in rules))


def items(
    rule: Rule, *, length: int | None = None, min_length: int = 1, ordered: bool = False
) -> Rule:
    """A list whose every item passes ``rule``; ``ordered``: non-decreasing (a range)."""

    def accepts(value: Any) -> bool:
        if not isinstance(value, list | tuple):
            return False
        if (length is not None and len(value) != length) or len(value) < min_length:
            return False
        if not all(rule.accepts(v) for v in value):
            return False
        return not ordered or all(a <= b for a, b in zip(value, value[1:]))

    if length is not None:
        size = f"a list of {length} items"
    else:
        size = "a non-empty list" if min_length <= 1 else f"a list of at least {min_length} items"
    wants = f"{size}, each {rule.wants}"
    return Rule(accepts, wants + (", in increasing order" if ordered else ""))


def mapping(**fields: Rule) -> Rule:
    """A mapping with some of ``fields`` (each checked by its rule; other keys are refused)."""
    return Rule(
        lambda v: (
            isinstance(v, Mapping)
            and set(v) <= set(fields)
            and all(fields[k].accepts(x) for k, x in v.items())
        ),
        f"a mapping with keys among {', '.join(fields)}",
        fields,
    )


def pasteable(value: Any) -> str:
    """``value`` as an override's right-hand side, in YAML flow style (no space after a comma;
    a mapping needs one after each colon, so :func:`override` quotes it for the shell)."""
    import yaml

    if isinstance(value, list | tuple):
        return "[" + ",".join(pasteable(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}: {pasteable(v)}" for k, v in value.items()) + "}"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def override(key: str, value: Any) -> str:
    """``key=value`` as one shell word: single-quoted when the shell would split or change it."""
    word = f"{key}={pasteable(value)}"
    return shlex.quote(word) if re.search(r"[\s{}\"'\\$`*?!;&|<>()#~]", word) else word


def slip_fix(
    unknown: Sequence[str],
    known: Iterable[str],
    values: Mapping[str, Any],
    fallback: str,
    written: Callable[[str], str] = str,
    context: str | None = None,
) -> str:
    """The ``fix:`` for unknown keys: ``pass corpus_path=/data/MSP instead of corpus_pth (...)``
    when every one is a slip of a known key (its value carried over, ``written`` giving the key
    as typed on the command line; ``context``, in brackets after it, is ``fallback`` unless
    given), else ``fallback`` alone."""
    known = list(known)
    meant = {key: did_you_mean(key, known) for key in unknown}
    if not known or not all(meant.values()) or not set(unknown) <= set(values):
        return fallback
    pasted = " ".join(override(written(meant[key]), values[key]) for key in unknown)
    slips = ", ".join(written(k) for k in unknown)
    return f"pass {pasted} instead of {slips} ({fallback if context is None else context})"


def check_param_values(
    system: str,
    rules: Mapping[str, Rule],
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    prefix: str = "",
    shadowed: Collection[str] = (),
) -> None:
    """Raise one HarnessError for the first parameter in ``params`` that its rule refuses.

    ``defaults``: the system's YAML values, offered as the fix. ``prefix``: how the parameter is
    written on the command line (``member_params.text_tfidf.`` for a fusion member).
    ``shadowed``: names that a bare ``key=`` gives to the run rather than the system (``seed``,
    ``progress``, ``target_prior``), written ``params.<name>=`` instead."""
    for name, value in params.items():
        rule = rules.get(name)
        if rule is None:
            continue
        sub, wants = rule.problem(value)
        if wants is None:
            continue
        written = "params." if not prefix and name in shadowed else prefix
        key = f"{name}.{sub}" if sub else name
        if wants == "":
            fields = list(rule.fields or {})
            fix = slip_fix(
                [str(sub)],
                fields,
                value if isinstance(value, Mapping) else {},
                f"remove {written}{key}; {name} takes {', '.join(fields)}",
                lambda field, head=f"{written}{name}.": head + field,
                context=f"{name} takes {', '.join(fields)}",
            )
            raise HarnessError(f"{system}: {written}{name} has no key {sub!r}", fix=fix)
        default = _lookup(defaults, key)
        fix = (
            f"pass {override(written + key, default)}"
            if default is not _MISSING and rule_accepts(rules, key, default)
            else f"pass {written}{key}=<{wants}>"
        )
        value = _lookup(params, key)
        # YAML reads on/off/yes/no as booleans: stacking=off arrives as false.
        read_as = (
            " (the command line reads on/off/yes/no as true/false)"
            if isinstance(value, bool)
            else ""
        )
        raise HarnessError(
            f"{system}: {written}{key}={pasteable(value)} is not accepted "
            f"({key} takes {wants}){read_as}",
            fix=fix,
        )


_MISSING = object()


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def rule_accepts(rules: Mapping[str, Rule], dotted: str, value: Any) -> bool:
    """Whether the rule at ``dotted`` (``attention.hidden``) accepts ``value``."""
    head, *rest = dotted.split(".")
    rule = rules.get(head)
    for part in rest:
        if rule is None or rule.fields is None:
            return False
        rule = rule.fields.get(part)
    return rule is not None and rule.accepts(value)
