"""Bug sites: where they are found, what their features see, how they are scored and reported."""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from model.graph import build_graph
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import CHECKPOINT_ENV, Predictor
from model.sites import (
    SITE_BUCKETS,
    SITE_FEATURES_VERSION,
    SITE_KINDS,
    SITE_TYPES,
    SiteModel,
    find_sites,
    kind_at,
    site_logits,
    site_model_from,
)
from tests.helpers import feature_id, write_checkpoint

SOURCE = """\
def clip(items, limit):
    total = 0
    for i in range(len(items)):
        if items[i] > limit and not total:
            total += items[i] * 2
    return max(total, limit)
"""


def sites_of(source: str, text: str | None = None) -> set[tuple[str, int, int]]:
    found = find_sites(ast.parse(source), text)
    return {(SITE_TYPES[t], line, column) for t, line, column in zip(found.types, found.lines, found.columns,
                                                                      strict=True)}


def features_at(source: str, site_type: str, line: int, column: int | None = None) -> list[int]:
    found = find_sites(ast.parse(source))
    return next(found.features(i) for i, (t, site_line, site_column) in
                enumerate(zip(found.types, found.lines, found.columns, strict=True))
                if SITE_TYPES[t] == site_type and site_line == line and column in (None, site_column))


def test_every_kind_of_site_is_found_at_its_line_and_1_based_column():
    expected = {
        ("constant", 2, 13),  # total = 0
        ("compare", 4, 12), ("boolean", 4, 12), ("condition", 4, 12),  # items[i] > limit and not total
        ("binary", 5, 13), ("binary", 5, 22), ("constant", 5, 33),  # total += items[i] * 2
        ("call", 6, 12),  # max(total, limit)
        ("name", 4, 23), ("name", 6, 16),  # reads of limit and total
    }
    assert expected <= sites_of(SOURCE)


@pytest.mark.parametrize(("branch", "then_use"), [
    ("x = []", "store"),  # `if x is None: x = []`: filled in where it was missing
    ("x.close()", "deref"),  # what it holds is used: right after `is not None`, a bug after `is None`
    ("print(x)", "read"),
    ("y = 1", "none"),
])
def test_a_comparison_that_is_a_conditions_test_sees_what_its_branch_does_with_the_compared_name(branch, then_use):
    source = f"def f(x):\n    if x is None:\n        {branch}\n    return x\n"
    features = features_at(source, "compare", 2, 8)
    assert feature_id(f"c-then\x1fis\x1f{then_use}") in features
    assert feature_id(f"c-else\x1fis\x1f-\x1f{then_use}") in features  # no else branch


def test_the_branch_of_a_length_or_membership_test_is_read_for_the_sequence_or_container():
    emptiness = "def f(s):\n    if len(s) == 0:\n        return s[0]\n    return None\n"
    assert feature_id("c-then\x1f==\x1fderef") in features_at(emptiness, "compare", 2, 8)
    filled = "def f(d, k):\n    if k not in d:\n        d[k] = 1\n    return d[k]\n"
    assert feature_id("c-then\x1fnot in\x1fstore") in features_at(filled, "compare", 2, 8)
    outside = "def f(x):\n    return x is None\n"  # not a condition's test: no branch to read
    assert not any(feature_id(f"c-then\x1fis\x1f{use}") in features_at(outside, "compare", 2, 12)
                   for use in ("store", "deref", "read", "none"))


@pytest.mark.parametrize(("expression", "guard", "use"), [
    ("x is not None and x.y", "and\x1fis not", "deref"),  # the guard protects the use
    ("x is not None or x.y", "or\x1fis not", "deref"),  # a wrong boolean operator: x.y when x is None
    ("not x or len(x) > 2", "or\x1fnot", "read"),
    ("x and y", "and\x1ftruth", "none"),
])
def test_a_boolean_sees_what_its_later_operands_do_with_what_its_first_one_checks(expression, guard, use):
    source = f"def f(x, y):\n    return {expression}\n"
    assert feature_id(f"o-guard\x1f{guard}\x1f{use}") in features_at(source, "boolean", 2, 12)


def test_a_comparison_inside_a_boolean_sees_what_the_operands_after_it_do_with_its_subject():
    source = "def f(x):\n    return x is None or x.y\n"
    assert feature_id("c-bool\x1fis\x1for\x1fderef") in features_at(source, "compare", 2, 12)


@pytest.mark.parametrize(("test", "negated", "then_use", "else_use"), [
    ("not x", True, "deref", "-"),  # `if not x: return x.y`: what it holds, where there is nothing
    ("x", False, "deref", "store"),
])
def test_a_condition_sees_what_each_branch_does_with_what_it_tests(test, negated, then_use, else_use):
    orelse = "\n    else:\n        x = 1" if else_use == "store" else ""
    source = f"def f(x):\n    if {test}:\n        return x.y{orelse}\n"
    features = features_at(source, "condition", 2, 8)
    assert feature_id(f"t-then\x1f{negated}\x1f{then_use}") in features
    assert feature_id(f"t-else\x1f{negated}\x1f{else_use}\x1f{then_use}") in features


@pytest.mark.parametrize(("test", "branch", "then_use"), [
    ("not x is None", "x.close()", "deref"),  # tests `x is not None`, and reads like it
    ("(m := f(x)) is not None", "m.group()", "deref"),  # a walrus: about what it binds
    ("None is x", "x = []", "store"),  # the literal on the left: about the other side
    ("x is not None", "del x", "del"),  # deleting is not assigning
    ("self.buf is None", "other.buf = []", "none"),  # another object's attribute of the same name
    ("self.buf is None", "self.buf = []", "store"),
    ("d.get(k) is None", "d[k] = []", "read"),  # a call with arguments is about its first one
    ("(a, b) == x", "a.close()", "?"),  # about no one variable: nothing to match by name
])
def test_a_tests_subject_is_the_variable_or_attribute_it_is_about(test, branch, then_use):
    source = f"def f(self, other, x, d, k, a, b):\n    if {test}:\n        {branch}\n"
    compare = next(c for c in ast.walk(ast.parse(source)) if isinstance(c, ast.Compare))
    op = "is not" if test.startswith("not ") else {ast.Is: "is", ast.IsNot: "is not", ast.Eq: "=="}[
        type(compare.ops[0])]
    features = features_at(source, "compare", 2, compare.col_offset + 1)
    assert feature_id(f"c-then\x1f{op}\x1f{then_use}") in features


def test_a_comparison_in_a_boolean_test_sees_what_the_branches_do_with_its_subject():
    source = "def f(x, y):\n    if x is None or y:\n        return x.z\n    else:\n        x = 1\n"
    assert feature_id("c-bt\x1for\x1fis\x1fderef\x1fstore") in features_at(source, "compare", 2, 8)
    condition = features_at(source, "condition", 2, 8)
    assert feature_id("t-then-g\x1fFalse\x1for:is\x1fderef") in condition
    assert feature_id("t-else-g\x1fFalse\x1for:is\x1fstore\x1fderef") in condition
    negated = "def f(x):\n    if not x is None:\n        return x.z\n"
    assert feature_id("t-then-g\x1fTrue\x1fis\x1fderef") in features_at(negated, "condition", 2, 8)


def test_a_negative_literals_site_starts_at_its_sign():
    assert ("constant", 2, 14) in sites_of("def f(a):\n    return a[-1] + a[1]\n")  # `-1`, not its `1`
    assert ("constant", 2, 22) in sites_of("def f(a):\n    return a[-1] + a[1]\n")
    assert ("constant", 2, 16) in sites_of("def f(a):\n    return not 1\n")  # only a minus joins the literal


def test_a_negative_literal_is_named_with_its_minus_and_seen_in_the_context_around_it():
    source = "def f(a):\n    if a[-1] < -2:\n        return -1\n    return 0\n"
    assert {feature_id("k\x1f-1"), feature_id("k-sub\x1f-1\x1fa")} <= set(features_at(source, "constant", 2, 10))
    assert feature_id("k-cmp\x1f-2\x1f<\x1fsub:a") in features_at(source, "constant", 2, 16)
    assert feature_id("k-ret-same\x1f-1\x1f0") in features_at(source, "constant", 3, 16)  # no other `return -1`
    assert feature_id("c-r\x1f<\x1fc:-2") in features_at(source, "compare", 2, 8)  # an operand's label too
    constants = {site for site in sites_of(source) if site[0] == "constant"}
    assert constants == {("constant", 2, 10), ("constant", 2, 16), ("constant", 3, 16), ("constant", 4, 12)}


def test_a_literal_in_a_bound_sees_where_the_bound_is_used():
    source = "def f(xs, n):\n    for i in range(len(xs) - 1):\n        g(xs[i + 1], xs[1:], xs[:n - 1], xs[::2])\n"
    assert {feature_id("k-bin-g\x1f1\x1f-\x1frange:0"),
            feature_id("k-bin-go\x1f1\x1f-\x1fcall:len\x1fCall")} <= set(features_at(source, "constant", 2, 30))
    assert feature_id("k-bin-g\x1f1\x1f+\x1f[]:xs") in features_at(source, "constant", 3, 18)
    assert {feature_id("k-sl\x1f1\x1flower\x1f-"),
            feature_id("k-sl-v\x1f1\x1flower\x1fxs")} <= set(features_at(source, "constant", 3, 25))
    assert feature_id("k-bin-g\x1f1\x1f-\x1fSlice") in features_at(source, "constant", 3, 38)
    assert feature_id("k-sl\x1f2\x1fstep\x1f-") in features_at(source, "constant", 3, 47)
    def count(operator: str) -> int:
        return len(features_at(f"def f(a):\n    return a {operator} 2\n", "constant", 2))

    assert count("-") == count("+") == count("*") + 2  # a product is no bound


def test_only_the_codes_own_variables_are_name_sites():
    names = {(line, column) for kind, line, column in sites_of(SOURCE) if kind == "name"}
    assert (3, 24) in names  # items, a parameter
    assert (3, 14) not in names and (3, 20) not in names  # range and len: builtins, never bound here


def test_a_one_argument_call_is_not_a_site_and_a_string_is_not_a_constant_site():
    found = sites_of('def f(x):\n    print(x)\n    return "text"\n')
    assert {kind for kind, *_ in found} == {"name"}


def test_swapping_two_arguments_changes_the_call_sites_features():
    before = features_at("def f(a, b):\n    return g(a, b)\n", "call", 2)
    after = features_at("def f(a, b):\n    return g(b, a)\n", "call", 2)
    assert set(before) != set(after)


def test_a_different_operator_changes_the_operator_sites_features():
    assert set(features_at("def f(a):\n    return a < 3\n", "compare", 2)) != \
        set(features_at("def f(a):\n    return a <= 3\n", "compare", 2))


def test_columns_count_characters_when_the_source_is_given():
    source = "def f(a, b):\n    s = 'héllo wörld' if a < b else 'ß'\n"
    column = source.splitlines()[1].index("a < b") + 1
    assert ("compare", 2, column) in sites_of(source, source)
    assert ("compare", 2, column + 2) in sites_of(source)  # the AST's bytes: é and ö take two each


def test_a_call_chain_deeper_than_the_interpreters_stack_is_fine():
    found = find_sites(ast.parse("g" + "()" * 1200 + "(a, b)\n"))
    assert [SITE_TYPES[t] for t in found.types] == ["call"]


@pytest.mark.parametrize("argument", ["a", "1"], ids=["variables", "constants"])
def test_a_call_with_a_hundred_thousand_arguments_ends_quickly(argument):
    source = "def f(a, b):\n    return g(" + f"{argument}, " * 100_000 + "b, a)\n"
    started = time.monotonic()
    graph = build_graph(source)
    assert time.monotonic() - started < 30  # bounded, not a performance goal: it was quadratic (hours)
    last = next(i for i, (t, column) in enumerate(zip(graph.sites.types, graph.sites.columns, strict=True))
                if SITE_TYPES[t] == "name" and column == len(source.splitlines()[1]) - 1)
    assert feature_id("n-arg\x1fg\x1f100001\x1fa") in graph.sites.features(last)
    assert feature_id(f"n-dup-arg\x1f{argument == 'a'}") in graph.sites.features(last)


def test_a_graph_with_its_sites_survives_pickling():
    graph = build_graph(SOURCE)
    again = pickle.loads(pickle.dumps(graph))
    assert again.sites == graph.sites and len(again.sites) > 0


def test_a_read_counts_as_bound_before_only_after_the_first_binding():
    before = features_at("def f():\n    x = 1\n    return x\n", "name", 3)
    after = features_at("def f():\n    print(x)\n    x = 1\n", "name", 2)
    assert feature_id("n-def-before\x1fTrue") in before
    assert feature_id("n-def-before\x1fFalse") in after


def test_a_reads_recency_counts_the_other_variables_bound_since_its_own():
    source = "def f(a, b):\n    c = a\n    d = b\n    return g(d, c, a, zzz)\n"
    assert feature_id("n-recency\x1f0") in features_at(source, "name", 4, 14)  # d: bound last
    assert feature_id("n-recency\x1f1") in features_at(source, "name", 4, 17)  # c: d bound since
    assert feature_id("n-recency\x1f3") in features_at(source, "name", 4, 20)  # a: b, c and d bound since


def test_a_read_knows_whether_a_never_read_variable_was_bound_since_its_own():
    misused = "def f(a):\n    b = a + 1\n    c = b * 2\n    return b\n"  # c is never read
    clean = "def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n"
    assert feature_id("n-unread-since\x1fyes") in features_at(misused, "name", 4)
    assert feature_id("n-unread-since\x1fno") in features_at(clean, "name", 4)


def test_a_read_looks_back_through_a_bounded_number_of_bindings():
    source = "def f(a):\n" + "".join(f"    v{i} = {i}\n" for i in range(100)) + "    return a\n"
    assert feature_id("n-unread-since\x1ffar-yes") in features_at(source, "name", 102)


def test_a_variable_passed_twice_or_assigned_to_itself_is_marked():
    assert feature_id("n-dup-arg\x1fTrue") in features_at("def f(a, b):\n    return max(a, a)\n", "name", 2, 16)
    assert feature_id("n-dup-arg\x1fFalse") in features_at("def f(a, b):\n    return max(a, b)\n", "name", 2, 16)
    assert feature_id("n-self-asg\x1fTrue\x1fAugAssign") in features_at("def f(a):\n    a += a\n", "name", 2, 10)


def test_a_read_in_a_role_its_variable_never_plays_elsewhere_is_told_apart():
    usual = features_at("def f(rows, n):\n    rows.append(n)\n    rows.append(n)\n", "name", 3, 5)
    odd = features_at("def f(rows, n):\n    rows.append(n)\n    n.append(n)\n", "name", 3, 5)
    assert feature_id("n-role\x1fattr\x1f1\x1f0") in usual  # rows owns .append again, nobody else does
    assert feature_id("n-role\x1fattr\x1f0\x1f1") in odd  # n owns .append once; rows does too


def test_a_call_that_passes_the_codes_own_parameters_out_of_order_is_told_apart():
    def call_features(source: str) -> list[int]:
        return features_at(source, "call", 5)

    defined = "def g(a, b):\n    return a\n\ndef f(a, b):\n"
    in_order, swapped = call_features(defined + "    return g(a, b)\n"), call_features(defined + "    return g(b, a)\n")
    assert feature_id("a-porder\x1fTrue") in in_order and feature_id("a-porder\x1fFalse") in swapped
    assert in_order.count(feature_id("a-sig\x1fTrue")) == 2
    assert swapped.count(feature_id("a-sig\x1fFalse")) == 2


def test_arguments_passed_in_the_order_their_variables_appeared_are_told_apart():
    source = "def f(a):\n    b = g(a)\n    return h({}, {})\n"
    assert feature_id("a-seen\x1fTrue") in features_at(source.format("a", "b"), "call", 3)
    assert feature_id("a-seen\x1fFalse") in features_at(source.format("b", "a"), "call", 3)


def test_a_pair_of_arguments_is_compared_with_the_order_other_calls_pass_it_in():
    def again(second_call: str) -> set[int]:
        features = features_at(f"def f(a, b):\n    k(a, b)\n    {second_call}\n", "call", 3)
        return {i for i in features if i in {feature_id(f"a-again\x1f{c}\x1f{o}") for c in (True, False)
                                             for o in ("same", "reversed", "mixed")}}

    assert again("k(a, b)") == {feature_id("a-again\x1fTrue\x1fsame")}
    assert again("k(b, a)") == {feature_id("a-again\x1fTrue\x1freversed")}
    assert again("m(b, a)") == {feature_id("a-again\x1fFalse\x1freversed")}
    assert again("m(b, c)") == set()


def test_a_returned_constant_is_compared_with_the_functions_other_returns():
    def returned(source: str, line: int) -> list[int]:
        return features_at(source, "constant", line)

    search = "def has(items, x):\n    for i in items:\n        if i == x:\n            return {}\n    return False\n"
    assert feature_id("k-ret-opp\x1fFalse\x1fTrue") in returned(search.format("True"), 5)
    assert feature_id("k-ret-same\x1fFalse\x1f0") in returned(search.format("True"), 5)
    assert feature_id("k-ret-same\x1fFalse\x1f1") in returned(search.format("False"), 5)  # a wrong literal
    assert feature_id("k-ret-last\x1fFalse\x1fTrue\x1fTrue") in returned(search.format("True"), 5)
    assert feature_id("k-ret-last\x1fTrue\x1fFalse\x1fTrue") in returned(search.format("True"), 4)
    bare = "def f(a):\n    if a:\n        return\n    return None\n"
    assert feature_id("k-ret-same\x1fNone\x1f1") in returned(bare, 4)  # a bare return gives None too


def test_returns_are_counted_per_function_not_across_nested_ones():
    source = "def f():\n    def g():\n        return True\n    return True\n"
    assert feature_id("k-ret-same\x1fTrue\x1f0") in features_at(source, "constant", 4)


def test_top_level_returns_are_not_pooled_with_a_functions():
    source = "def g():\n    def k():\n        return True\n    return 1\nreturn True\n"
    for line in (3, 5):
        assert feature_id("k-ret-same\x1fTrue\x1f0") in features_at(source, "constant", line)


def test_a_function_with_forty_thousand_returns_ends_quickly():
    source = "def f(x):\n" + "    if x:\n        return True\n" * 40_000
    started = time.monotonic()
    found = find_sites(ast.parse(source))
    assert time.monotonic() - started < 30  # bounded, not a performance goal: it was quadratic (33 s)
    first_constant = found.types.index(SITE_TYPES.index("constant"))
    assert feature_id("k-ret-same\x1fTrue\x1f2") in found.features(first_constant)


def test_parameter_order_is_read_from_the_function_the_call_is_in():
    wrapper = "def f(a, b):\n    return h(a, b)\n"
    other = "def k(b, a):\n    pass\n"
    for source in (wrapper + other, other + wrapper):
        line = source.splitlines().index("    return h(a, b)") + 1
        features = features_at(source, "call", line)
        assert feature_id("a-porder\x1fTrue") in features and feature_id("a-porder\x1fFalse") not in features


def test_a_function_defined_twice_with_different_parameters_gives_no_signature_features():
    source = "def f(a, b):\n    pass\ndef f(b, a):\n    pass\ndef g(a, b):\n    f(a, b)\n"
    features = features_at(source, "call", 6)
    assert not {feature_id(f"a-sig\x1f{w}") for w in ("True", "False", "absent")} & set(features)


def test_a_label_looks_through_a_bounded_number_of_calls():
    features = features_at("def f(a, b):\n    return g" + "()" * 50 + "(a, b)\n", "call", 2)
    assert feature_id("a\x1f" + "call:" * 9 + "deep") in features


def test_an_integer_too_long_for_repr_is_a_constant_like_any_other():
    graph = build_graph("def f(a, b):\n    return g(a, 0x" + "f" * 4000 + ") + 0x" + "f" * 4000 + "\n")
    assert len(graph.sites) > 0


def test_a_methods_signature_is_read_without_self():
    source = ("class C:\n    def put(self, key, value):\n        pass\n"
              "    def f(self, key, value):\n        self.put(key, value)\n")
    assert features_at(source, "call", 5).count(feature_id("a-sig\x1fTrue")) == 2


def test_feature_ids_do_not_depend_on_the_process_hash_seed():
    code = "import ast, sys\nfrom model.sites import find_sites\nprint(find_sites(ast.parse(sys.argv[1])).ids)"
    runs = {
        subprocess.run([sys.executable, "-c", code, SOURCE], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1


def test_each_site_type_names_the_kinds_it_can_hold_and_the_head_picks_among_them():
    assert set(SITE_KINDS) == set(SITE_TYPES)
    compare = SITE_TYPES.index("compare")
    assert kind_at(compare, {"negated_condition": 0.2, "swapped_operands": 0.7, "variable_misuse": 0.9}) \
        == "swapped_operands"


def scorer(favoured: list[int] | None = None, combiner: tuple[float, ...] = (1.0, 0.0, 0.0)) -> SiteModel:
    weight = np.zeros(SITE_BUCKETS, np.float32)
    for bucket in favoured or []:
        weight[bucket] = 10.0
    return SiteModel(weight, np.full(len(SITE_TYPES), -5.0), combiner)


def test_a_sites_logit_is_its_buckets_weights_summed_plus_its_types_bias():
    found = find_sites(ast.parse(SOURCE))
    first = found.features(0)
    model = scorer([first[0]])
    logits = model.logits(found)
    assert logits.shape == (len(found),)
    assert logits[0] == pytest.approx(5.0 + 10.0 * (first.count(first[0]) - 1))
    others = [i for i in range(len(found)) if first[0] not in found.features(i)]
    assert others and np.all(logits[others] == -5.0)


def test_the_combiner_joins_the_site_and_the_bugs_head_into_a_probability():
    found = find_sites(ast.parse(SOURCE))
    model = scorer(combiner=(1.0, 1.0, 0.0))  # every site at logit -5
    assert model.probabilities(found, 0.5) == pytest.approx(np.full(len(found), 1 / (1 + np.exp(5.0))))
    assert np.all(model.probabilities(found, 0.99) > model.probabilities(found, 0.5))


def test_the_more_sites_code_has_the_less_its_strongest_one_weighs_under_a_negative_count_weight():
    found = find_sites(ast.parse(SOURCE))
    with_count = scorer(combiner=(1.0, 0.0, 0.0, -0.5))
    logit = np.array([2.0])
    assert with_count.combine(logit, 0.5, 1) > with_count.combine(logit, 0.5, 100)
    assert with_count.probabilities(found, 0.5) == pytest.approx(
        1 / (1 + np.exp(5.0 + 0.5 * np.log1p(len(found)))))


def test_a_combiner_of_three_weights_gives_the_count_no_weight():
    logits = np.array([-1.0, 0.5, 3.0])
    old, new = scorer(combiner=(0.7, 0.3, 0.1)), scorer(combiner=(0.7, 0.3, 0.1, 0.0))
    assert old.combine(logits, 0.4, 50) == pytest.approx(new.combine(logits, 0.4, 7))
    with pytest.raises(ValueError, match="3 or 4 weights"):
        scorer(combiner=(1.0, 0.0))


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="site model weights"):
        SiteModel(np.zeros(10, np.float32), np.zeros(len(SITE_TYPES)), (1.0, 0.0, 0.0))


@pytest.mark.parametrize(
    "meta",
    [None, {"version": "sites-v0", "combiner": [1, 0, 0]}, {"version": SITE_FEATURES_VERSION},
     {"version": SITE_FEATURES_VERSION, "combiner": [1, 0]}],
    ids=["no metadata", "other site features", "no combiner", "a short combiner"],
)
def test_a_checkpoint_without_a_usable_site_scorer_gives_none(meta):
    tensors = {"weight": np.zeros(SITE_BUCKETS, np.float32), "type_bias": np.zeros(len(SITE_TYPES), np.float32)}
    assert site_model_from(tensors, meta) is None


def hidden_tensors(width: int = 4, bits: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"embedding": rng.normal(size=(1 << bits, width)).astype(np.float16),
            "type_embedding": rng.normal(size=(len(SITE_TYPES), width)).astype(np.float32),
            "out_weight": rng.normal(size=width).astype(np.float32), "out_bias": np.array([0.25], np.float32)}


@pytest.mark.parametrize("sizes", [[2, 1, 1], [2, 0, 2], [0, 0, 4], [0, 0, 0]],
                         ids=["every site has ids", "a site without ids", "leading sites without", "no ids at all"])
def test_each_sites_logit_sums_its_own_ids_weights_whether_or_not_some_sites_have_none(sizes):
    weight = np.arange(SITE_BUCKETS, dtype=np.float32)
    type_bias = np.array([0.5, 0.25, 0.125, 0, 0, 0, 0])
    ids = [10, 20, 30, 40][: sum(sizes)]
    expected, start = [], 0
    for size, site_type in zip(sizes, [0, 1, 2], strict=True):
        expected.append(sum(ids[start: start + size]) + type_bias[site_type])
        start += size
    assert site_logits(weight, type_bias, ids, sizes, [0, 1, 2]).tolist() == expected


def test_a_hidden_part_adds_relu_of_the_summed_rows_of_the_ids_low_bits_plus_the_type_s_row():
    linear = {"weight": np.zeros(SITE_BUCKETS, np.float32), "type_bias": np.zeros(len(SITE_TYPES), np.float32)}
    meta = {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]}
    hidden = hidden_tensors()
    scorer = site_model_from(linear | hidden, meta)
    assert scorer is not None and scorer.hidden is not None and scorer.hidden.embedding.dtype == np.float32
    ids, sizes, types = [3, 64 + 3, 5, 7], [2, 0, 2], [1, 0, 2]  # 64 + 3 shares 3's row (6 low bits)
    rows, type_rows = hidden["embedding"].astype(np.float32), hidden["type_embedding"]
    sums = [rows[3] * 2 + type_rows[1], type_rows[0], rows[5] + rows[7] + type_rows[2]]
    expected = [float(np.maximum(v, 0) @ hidden["out_weight"]) + 0.25 for v in sums]
    assert np.allclose(scorer.logits_of(ids, sizes, types), expected, atol=1e-5)
    assert site_model_from(linear, meta).hidden is None  # a linear scorer, as before


def test_the_hidden_part_gives_the_same_logits_taken_a_few_ids_at_a_time():
    linear = {"weight": np.zeros(SITE_BUCKETS, np.float32), "type_bias": np.zeros(len(SITE_TYPES), np.float32)}
    scorer = site_model_from(linear | hidden_tensors(), {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]})
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9, size=200)
    ids = rng.integers(0, SITE_BUCKETS, size=int(counts.sum()))
    types = rng.integers(0, len(SITE_TYPES), size=200)
    whole = scorer.hidden.logits(ids, counts, types, chunk_ids=10**9)
    for chunk_ids in (1, 7, 64):
        assert np.allclose(scorer.hidden.logits(ids, counts, types, chunk_ids=chunk_ids), whole, atol=1e-6)


@pytest.mark.parametrize(
    "change",
    [{"embedding": np.zeros((63, 4), np.float16)}, {"embedding": np.zeros((0, 4), np.float16)},
     {"out_bias": np.zeros(0, np.float32)}, {"out_bias": np.array([np.nan], np.float32)},
     {"embedding": np.full((64, 4), np.inf, np.float16)}, {"out_weight": None}],
    ids=["rows not a power of two", "no rows", "no bias", "NaN bias", "infinite rows", "a tensor missing"],
)
def test_a_hidden_part_that_is_malformed_or_incomplete_gives_no_site_scorer(change):
    linear = {"weight": np.zeros(SITE_BUCKETS, np.float32), "type_bias": np.zeros(len(SITE_TYPES), np.float32)}
    meta = {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]}
    tensors = {name: value for name, value in (linear | hidden_tensors() | change).items() if value is not None}
    assert site_model_from(tensors, meta) is None  # the combiner was fitted for the whole scorer


def test_non_finite_linear_weights_or_combiner_give_no_site_scorer():
    weight = np.zeros(SITE_BUCKETS, np.float32)
    weight[7] = np.nan
    tensors = {"weight": weight, "type_bias": np.zeros(len(SITE_TYPES), np.float32)}
    assert site_model_from(tensors, {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]}) is None
    tensors["weight"] = np.zeros(SITE_BUCKETS, np.float32)
    assert site_model_from(tensors, {"version": SITE_FEATURES_VERSION, "combiner": [1, float("inf"), 0]}) is None
    assert site_model_from(tensors, {"version": SITE_FEATURES_VERSION, "combiner": [1e308] * 4}) is None  # NaN later
    tensors["type_bias"] = np.full(len(SITE_TYPES), 3e38, np.float32)
    assert site_model_from(tensors, {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]}) is None
    meta = {"version": SITE_FEATURES_VERSION, "combiner": [1, 0, 0]}
    for weight, type_bias in [(np.zeros(SITE_BUCKETS, bool), np.zeros(len(SITE_TYPES), np.float32)),
                              (np.zeros(SITE_BUCKETS, np.float32), np.zeros(len(SITE_TYPES), np.complex64))]:
        assert site_model_from({"weight": weight, "type_bias": type_bias}, meta) is None  # not real numbers


def site_checkpoint(path, *favoured: str, threshold: float = 0.5):
    """A checkpoint whose site scorer puts the bug at every site with one of the feature texts `favoured`."""
    weight = np.zeros(SITE_BUCKETS, np.float32)
    for text in favoured:
        weight[feature_id(text)] = 20.0
    tensors = {"weight": weight, "type_bias": np.full(len(SITE_TYPES), -10.0, np.float32)}
    training = {"trained": True, "thresholds": {"bugs": threshold},
                "bug_sites": {"version": SITE_FEATURES_VERSION, "combiner": [1.0, 0.0, 0.0]}}
    return write_checkpoint(path, ["os"], training=training, site_weights=tensors)


def test_site_tensors_round_trip_beside_the_network_and_count_as_parameters(tmp_path, monkeypatch):
    path = site_checkpoint(tmp_path / "sites.safetensors", "a\x1fmax")
    checkpoint = load_checkpoint(path, expected_layout_version=FEATURE_LAYOUT_VERSION)
    assert set(checkpoint.site_weights) == {"weight", "type_bias"}
    assert not any(name.startswith("bug_sites") for name in checkpoint.weights)
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    predictor = Predictor(path)
    predictor.load()
    plain = Predictor(write_checkpoint(tmp_path / "plain.safetensors", ["os"]))
    plain.load()
    assert predictor.info()["parameters"] == plain.info()["parameters"] + SITE_BUCKETS + len(SITE_TYPES)


def test_the_daemon_reports_the_likeliest_site_with_its_line_column_and_a_kind_it_can_hold(tmp_path):
    predictor = Predictor(site_checkpoint(tmp_path / "sites.safetensors", "a\x1fmax"))
    predictor.load()
    prediction = predictor.predict_sources([SOURCE])[0]
    assert [(bug.kind, bug.line, bug.column) for bug in prediction.bugs] == [("swapped_arguments", 6, 12)]
    assert prediction.bugs[0].score == pytest.approx(1 / (1 + np.exp(-10.0)))


def test_code_without_a_likely_site_gets_no_bug_report(tmp_path):
    predictor = Predictor(site_checkpoint(tmp_path / "sites.safetensors", "a\x1fmax"))
    predictor.load()
    assert predictor.predict_sources(["def f(x):\n    return x + 1\n"])[0].bugs == []
    assert predictor.predict_sources(["x = 'no sites at all'\n"])[0].bugs == []


def test_sites_that_start_at_one_place_give_one_report_there(tmp_path):
    predictor = Predictor(site_checkpoint(tmp_path / "sites.safetensors", "t\x1fIf\x1fFalse", "c\x1f<"))
    predictor.load()
    bugs = predictor.predict_sources(["def f(a, b):\n    if a < b:\n        return a\n    return b\n"])[0].bugs
    assert [(bug.line, bug.column) for bug in bugs] == [(2, 8)]
