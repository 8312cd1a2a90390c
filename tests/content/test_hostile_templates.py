"""Hostile template and subject sources (issue 11, items 3, 14 and 17): whoever edits ``email_templates/`` or a
subject in the rule file cannot run code, reach Python internals, change recipient data or make the renderer
allocate without bound. Real jinja2 and mjml; a payload that would run a command creates a file in tmp_path, and
every test that refuses one checks that the file is absent."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pytest

from tailor.content.errors import TemplateError
from tailor.content.library import TemplateLibrary
from tailor.content.subject import render_subject, subject_problem
from tests.content.test_rendering import HEADER, LOOP_BLOCK, TEMPLATES, VIP_BLOCKS, make_templates, vip_context

RULES = Path(__file__).resolve().parents[2] / "rules"


def text_block(expression: str) -> str:
    """A block whose line 5 is an ``<mj-text>`` holding ``expression``."""
    return HEADER + f"<mj-section><mj-column>\n<mj-text>{expression}</mj-text>\n</mj-column></mj-section>\n"


def touch(marker: Path) -> str:
    """Shell command the payloads try to run: creates ``marker``."""
    return f"touch {marker}"


def static_escape(marker: Path) -> str:
    return f"{{{{ cycler.__init__.__globals__.os.popen('{touch(marker)}').read() }}}}"


def dynamic_escape(marker: Path) -> str:
    # attribute names built at run time: no static check can see them, only the sandbox
    return ("{{ (cycler | attr('_' ~ '_init__') | attr('_' ~ '_globals__'))['os']"
            f".popen('{touch(marker)}').read() }}}}")


def load_error(root: Path) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        TemplateLibrary.load(root)
    return info.value


# --- item 3: templates run sandboxed -------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [static_escape, dynamic_escape])
def test_block_cannot_run_a_shell_command(tmp_path: Path, payload) -> None:
    marker = tmp_path / "pwned"
    root = make_templates(tmp_path, {"evil": text_block(payload(marker))})
    err = load_error(root)
    assert not marker.exists(), "the template ran a shell command"
    assert err.file == str(root / "blocks" / "evil.mjml"), str(err)
    assert err.line == 5, str(err)
    assert "__init__" in str(err) and "unsafe" in str(err), str(err)


def test_layout_cannot_run_a_shell_command(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    layout = (TEMPLATES / "layout.mjml").read_text(encoding="utf-8")
    layout = layout.replace("{{ company_address }}</mj-text>", "{{ company_address }}" + static_escape(marker)
                            + "</mj-text>")
    line = next(i for i, text in enumerate(layout.splitlines(), start=1) if "popen" in text)
    root = make_templates(tmp_path, {}, layout=layout)
    err = load_error(root)
    assert not marker.exists()
    assert err.file == str(root / "layout.mjml") and err.line == line, str(err)
    assert "'__init__'" in str(err)


@pytest.mark.parametrize("expression,message", [
    ("{{ p.name.__class__ }}", "'__class__'"),
    ("{{ p['__class__'] }}", "'__class__'"),
    ("{{ p | attr('__class__') }}", "'__class__'"),
    ("{{ self._TemplateReference__context }}", "'_TemplateReference__context'"),
])
def test_python_internals_are_refused_with_file_and_line(tmp_path: Path, expression: str, message: str) -> None:
    block = HEADER + ("<mj-section><mj-column>\n{% for p in products %}\n"
                      f"<mj-text>{expression}</mj-text>\n{{% endfor %}}\n</mj-column></mj-section>\n")
    err = load_error(make_templates(tmp_path, {"nosy": block}))
    assert err.file.endswith("nosy.mjml") and err.line == 6, str(err)
    assert message in str(err) and "not allowed" in str(err), str(err)


def test_templates_cannot_modify_the_recipient_data(tmp_path: Path) -> None:
    # the immutable sandbox: list/dict methods that change the context are refused, not just hidden
    err = load_error(make_templates(tmp_path, {"mutating": text_block("{{ products.append(1) or '' }}")}))
    assert err.file.endswith("mutating.mjml") and err.line == 5, str(err)
    assert "unsafe" in str(err), str(err)


@pytest.mark.parametrize("payload", [static_escape, dynamic_escape])
def test_subject_cannot_run_a_shell_command_and_check_refuses_it(tmp_path: Path, payload) -> None:
    marker = tmp_path / "pwned"
    problem = subject_problem(payload(marker))
    assert not marker.exists()
    assert problem is not None and "unsafe" in problem[0], problem
    with pytest.raises(TemplateError, match="subject"):
        render_subject(payload(marker), vip_context())
    assert not marker.exists()


# --- item 17: include / import / extends ------------------------------------------------------------------------

@pytest.mark.parametrize("tag,name", [
    ("{% include 'blocks/hero_default.mjml' %}", "include"),
    ("{% import 'layout.mjml' as layout %}", "import"),
    ("{% from 'layout.mjml' import footer %}", "import"),
    ("{% extends 'layout.mjml' %}", "extends"),
])
def test_include_import_extends_are_refused_with_file_and_line(tmp_path: Path, tag: str, name: str) -> None:
    block = HEADER + "<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>\n" + tag + "\n"
    err = load_error(make_templates(tmp_path, {"composed": block}))
    assert err.file.endswith("composed.mjml") and err.line == 5, str(err)
    assert f"{{% {name} %}} is not supported" in str(err), str(err)
    problem = subject_problem(f"Hi {tag}")
    assert problem is not None and f"{{% {name} %}} is not supported" in problem[0], problem


def test_autoescape_cannot_be_switched_off_and_safe_is_not_a_filter(tmp_path: Path) -> None:
    err = load_error(make_templates(tmp_path, {"raw": text_block("{% autoescape false %}{{ first_name }}"
                                                                  "{% endautoescape %}")}))
    assert err.line == 5 and "autoescape" in str(err), str(err)
    err = load_error(make_templates(tmp_path / "b", {"raw": text_block("{{ first_name | safe }}")}))
    assert err.line == 5 and "'safe'" in str(err), str(err)


# --- item 14: limits --------------------------------------------------------------------------------------------

def peak_mib(fn) -> float:
    """Peak Python allocation while ``fn()`` runs, in MiB (200 MB strings would show)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


HUGE = "{{ 'x' * 200000000 }}"


def test_check_refuses_a_huge_repetition_in_a_subject_without_building_it() -> None:
    found: list = []
    assert peak_mib(lambda: found.append(subject_problem(HUGE))) < 20
    message = found[0][0]
    assert "200,000,000" in message and "100,000 characters" in message, message


def test_render_refuses_a_huge_repetition_in_a_subject_without_building_it() -> None:
    def render() -> None:
        with pytest.raises(TemplateError, match="100,000 characters"):
            render_subject(HUGE, vip_context())
    assert peak_mib(render) < 20


def test_rules_check_refuses_the_hostile_subject(tmp_path: Path) -> None:
    from tailor.rules.check import check_rules

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "email_rules.yaml"
    text = path.read_text(encoding="utf-8")
    original = 'subject: "New this spring at Tailor Shop, {{ first_name }}"'
    assert original in text
    path.write_text(text.replace(original, f'subject: "{HUGE}"'), encoding="utf-8")
    line = next(i for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if HUGE in t)
    report = check_rules(rules, TEMPLATES)
    assert not report.ok
    hits = [p for p in report.problems if f"email_rules.yaml:{line}:" in p]
    assert hits and "100,000 characters" in hits[0], report.problems


def test_a_block_with_a_huge_repetition_fails_to_load_without_building_it(tmp_path: Path) -> None:
    root = make_templates(tmp_path, {"huge": text_block(HUGE)})
    errors: list[TemplateError] = []

    def load() -> None:
        errors.append(load_error(root))
    assert peak_mib(load) < 60
    assert errors[0].file.endswith("huge.mjml") and errors[0].line == 5, str(errors[0])
    assert "100,000 characters" in str(errors[0])


@pytest.mark.parametrize("expression", [
    "{{ 200000000 * 'x' }}",
    "{{ ['x'] * 200000000 }}",
    "{{ 10 ** 100000000 }}",
    "{{ '%0200000000d' % 1 }}",
    "{{ '%*d' % (200000000, 1) }}",
    "{{ '{:>200000000}'.format(1) }}",
    "{{ 'x'.ljust(200000000) }}",
    "{{ 'x'.center(200000000) }}",
    "{{ (0).to_bytes(200000000, 'big') }}",
    "{{ ('y' * 90000).replace('', 'x' * 90000) }}",
    "{{ ('y' * 90000) | replace('', 'x' * 90000) }}",
    "{{ ('x' * 90000) | list | join('y' * 90000) }}",
    "{{ ('x' * 90000).join('y' * 90000) }}",
    "{{ ('x' * 90000) | map('replace', 'x', 'y' * 90000) | list | length }}",
    "{{ [['y'] * 50000] * 50000 }}",
    "{% set a = ['y' * 50000] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c }}",
    "{% set a = {'k': 'y' * 50000} %}{{ dict(a=a, b=a, c=a) }}",
    "{{ 'x' | center(200000000) }}",
    "{{ 'x' | indent(200000000) }}",
    "{{ '%200000000s' | format('x') }}",
    "{{ [1] | batch(200000000, 'x') | list }}",
    "{{ products | tojson(200000000) }}",
    "{{ range(200000000) | length }}",
    "{{ lipsum(100000) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "{% macro grow(s, n) %}{{ grow(s ~ s, n - 1) if n else s | length }}{% endmacro %}{{ grow('x', 40) }}",
])
def test_amplifiers_are_refused_without_allocating(expression: str) -> None:
    def render() -> None:
        with pytest.raises(TemplateError):
            render_subject(expression, vip_context())
    assert peak_mib(render) < 20
    problem = subject_problem(expression)
    assert problem is not None, expression


def test_block_output_over_the_limit_is_refused_while_it_is_built(tmp_path: Path) -> None:
    block = text_block("{% for i in range(1000) %}{{ 'x' * 99000 }}{% endfor %}")  # 99 MB if not bounded
    root = make_templates(tmp_path, {"long": block})
    errors: list[TemplateError] = []
    assert peak_mib(lambda: errors.append(load_error(root))) < 60
    assert errors[0].file.endswith("long.mjml"), str(errors[0])
    assert "1,000,000 characters" in str(errors[0]), str(errors[0])


def test_data_that_makes_an_email_too_long_is_an_error_naming_the_files_not_the_data(tmp_path: Path) -> None:
    library = TemplateLibrary.load(TEMPLATES)
    ctx = vip_context()
    secret = "Secret-Product-Name " * 60000   # 1.2 M characters in one product name
    ctx["products"][0] = {**ctx["products"][0], "name": secret}
    with pytest.raises(TemplateError) as info:
        library.render(VIP_BLOCKS, ctx)
    message = str(info.value)
    assert "1,000,000 characters" in message and "product_recommendations.mjml" in message, message[:300]
    assert "Secret-Product-Name" not in message


def test_subject_limits_at_check_time() -> None:
    long_static = "A" * 10 + " word" * 60   # 310 characters
    problem = subject_problem(long_static)
    assert problem is not None and "310 characters" in problem[0] and "250" in problem[0], problem
    long_template = "{{ first_name }}," + " word" * 60
    problem = subject_problem(long_template)
    assert problem is not None and "250" in problem[0], problem
    problem = subject_problem("{{ first_name }} " + "{# padding #}" * 100)
    assert problem is not None and "1,000 characters" in problem[0], problem
    assert subject_problem("{{ first_name }}, a few picks just for you") is None


def test_subject_made_long_by_data_is_truncated_at_a_word_boundary() -> None:
    name = "Maximiliane " * 40
    subject = render_subject("{{ first_name }}, your picks are in", vip_context(first_name=name))
    assert len(subject) <= 250 and subject.endswith("…"), subject
    full = " ".join(f"{name}, your picks are in".split())
    assert full.startswith(subject[:-1]) and full[len(subject) - 1] == " ", subject
    assert render_subject("{{ first_name }}, hi", vip_context(first_name="Anna")) == "Anna, hi"


def test_a_template_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    block = LOOP_BLOCK + "{# " + "x" * 200_000 + " #}\n"   # under 4 x the limit in bytes: read, then counted
    err = load_error(make_templates(tmp_path, {"big_file": block}))
    assert err.file.endswith("big_file.mjml") and "100,000 characters" in str(err), str(err)


def test_runtime_error_in_a_block_names_its_file_and_line(tmp_path: Path) -> None:
    # a TypeError in the empty sample context (discount_percent is None) used to escape as a bare TypeError
    block = text_block("{{ discount_percent + 5 }}")
    err = load_error(make_templates(tmp_path, {"adds": block}))
    assert err.file.endswith("adds.mjml") and err.line == 5, str(err)
    assert "TypeError" in str(err)


def test_a_recipient_whose_data_breaks_a_render_gets_file_line_and_customer_but_not_the_data() -> None:
    from tailor.content.render import render_emails
    from tests.content.test_rendering import decisions_frame

    library = TemplateLibrary.load(TEMPLATES)
    block = TEMPLATES / "blocks" / "product_recommendations.mjml"
    line = next(i for i, t in enumerate(block.read_text(encoding="utf-8").splitlines(), start=1) if "money(" in t)
    ctx = vip_context()
    ctx["products"][1] = {**ctx["products"][1], "price": "Secret-Price"}   # float("Secret-Price") in money
    with pytest.raises(TemplateError) as info:
        library.render(VIP_BLOCKS, ctx)
    err = info.value
    assert err.file == str(block) and err.line == line, str(err)
    assert "ValueError" in str(err) and "Secret" not in str(err)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(TemplateError) as info:
        render_emails(decisions_frame(), {"cus_000042": ctx, "cus_000044": vip_context()}, library)
    assert "customer 'cus_000042' (campaign 'spring_2025')" in str(info.value) and "Secret" not in str(info.value)
    assert info.value.line == line


def test_a_template_file_far_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    block = LOOP_BLOCK + "{# " + "x" * 500_000 + " #}\n"
    err = load_error(make_templates(tmp_path, {"huge_file": block}))
    assert err.file.endswith("huge_file.mjml") and "bytes long" in str(err) and "100,000 characters" in str(err)
