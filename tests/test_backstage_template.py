"""backstage/template.yaml asks what cookiecutter.json asks, and is a valid scaffolder template."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from .backstage import entity_problems
from .checks import YAML_1_2
from .hook_modules import pre_gen
from .variants import TEMPLATE_DIR

SCAFFOLDER_TEMPLATE = TEMPLATE_DIR / "backstage" / "template.yaml"
CONTEXT = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
PROMPTS = CONTEXT["__prompts__"]
# The questions: every answer of cookiecutter.json except its settings (_...) and the bake steps,
# which the scaffolder fixes (its publish step makes the repository).
QUESTIONS = [key for key in CONTEXT if not key.startswith("_") and key not in pre_gen.BAKE_STEPS]
# The form's own question: where the repository goes.
SCAFFOLDER_ONLY = {"repoUrl"}


@cache
def scaffolder_template() -> dict[str, Any]:
    template: dict[str, Any] = YAML_1_2.load(SCAFFOLDER_TEMPLATE.read_text(encoding="utf-8"))
    return template


def form_fields() -> dict[str, dict[str, Any]]:
    """Every property of every page of the form, by name."""
    return {
        name: field
        for page in scaffolder_template()["spec"]["parameters"]
        for name, field in page["properties"].items()
    }


def required_fields() -> set[str]:
    return {name for page in scaffolder_template()["spec"]["parameters"] for name in page.get("required", [])}


def fetch_input() -> dict[str, Any]:
    (fetch,) = [step for step in scaffolder_template()["spec"]["steps"] if step["action"] == "fetch:cookiecutter"]
    step_input: dict[str, Any] = fetch["input"]
    return step_input


def expected_field(key: str) -> dict[str, Any]:
    """The form field that asks what cookiecutter.json asks for ``key`` (the properties compared)."""
    default, prompt = CONTEXT[key], PROMPTS[key]
    if isinstance(default, list):
        labels = [prompt[choice] for choice in default]
        return {
            "title": prompt["__prompt__"],
            "type": "string",
            "enum": default,
            "enumNames": labels,
            "default": default[0],
        }
    if isinstance(default, bool):
        return {"title": prompt, "type": "boolean", "default": default}
    if "{{" in default:  # derived from other answers: left empty, cookiecutter derives it
        return {"title": prompt, "type": "string", "default": None}
    return {"title": prompt, "type": "string", "default": default}


def test_the_form_asks_every_question_of_cookiecutter_json_and_no_other() -> None:
    assert sorted(set(form_fields()) - SCAFFOLDER_ONLY) == sorted(QUESTIONS), (
        "backstage/template.yaml must ask exactly the questions of cookiecutter.json"
    )


@pytest.mark.parametrize("key", QUESTIONS)
def test_each_question_has_the_same_prompt_choices_and_default(key: str) -> None:
    field = form_fields().get(key)
    assert field is not None, f"add {key} to a page of backstage/template.yaml"
    expected = expected_field(key)
    assert {name: field.get(name) for name in expected} == expected
    assert key in fetch_input()["values"], f"pass {key} in the fetch step's values"


def test_required_fields_are_the_answers_with_a_literal_default() -> None:
    literal = {key for key in QUESTIONS if isinstance(CONTEXT[key], str) and CONTEXT[key] and "{{" not in CONTEXT[key]}
    assert required_fields() - SCAFFOLDER_ONLY == literal


def test_the_fetch_step_passes_each_answer_and_the_template_settings() -> None:
    step_input = fetch_input()
    expected_values = {key: f"${{{{ parameters.{key} }}}}" for key in QUESTIONS}
    expected_values |= dict.fromkeys(pre_gen.BAKE_STEPS, False)
    assert step_input["values"] == expected_values
    # The action rewrites cookiecutter.json from these, so they must match it.
    assert step_input["extensions"] == CONTEXT["_extensions"]
    assert step_input["copyWithoutRender"] == CONTEXT["_copy_without_render"]
    assert (SCAFFOLDER_TEMPLATE.parent / step_input["url"] / "cookiecutter.json").resolve().is_file()


def test_the_template_validates_against_the_scaffolder_schema() -> None:
    assert entity_problems(SCAFFOLDER_TEMPLATE) == []


def test_the_catalog_is_registered_from_the_generated_catalog_info() -> None:
    (register,) = [step for step in scaffolder_template()["spec"]["steps"] if step["action"] == "catalog:register"]
    assert register["input"]["catalogInfoPath"] == "/catalog-info.yaml"
    assert (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "catalog-info.yaml").is_file()
