"""Projects rendered by one Jinja environment for every combination, instead of one bake each.

A cookiecutter bake builds a new Jinja environment and compiles every template file again, which
is most of its half second; baked one by one, the fast tier's combinations took ten minutes. Here
one environment, built as cookiecutter builds it, compiles each file once per process and renders
it once for each distinct value of the answers it reads (found in its syntax tree). A project is
then written by cookiecutter's rules (names, verbatim copies, line endings, modes) and finished by
the hooks' own functions. test_bake_matrix compares the result with real bakes, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from binaryornot.check import is_binary
from cookiecutter.generate import generate_context, is_copy_only_path
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context
from jinja2 import Environment, FileSystemLoader, nodes

from .hook_modules import post_gen, pre_gen
from .variants import TEMPLATE_DIR, Answers

PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
# Nodes that pull in another template, whose reads the file's own syntax tree does not show.
OTHER_TEMPLATES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def context_for(answers: Answers, output_dir: Path) -> dict[str, Any]:
    """The context cookiecutter builds from these answers without prompting (as pytest-cookies bakes)."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=answers)
    context["_cookiecutter"] = {key: value for key, value in context["cookiecutter"].items() if not key.startswith("_")}
    context["cookiecutter"].update(prompt_for_config(context, no_input=True))
    context["cookiecutter"].update(
        _template=str(TEMPLATE_DIR), _output_dir=str(output_dir), _repo_dir=str(TEMPLATE_DIR), _checkout=None
    )
    return context


def answers_read(env: Environment, source: str) -> frozenset[str] | None:
    """The answers a template reads as ``cookiecutter.<key>`` or ``cookiecutter['<key>']``; None when
    it uses the context any other way (passes it on, calls a method on it, includes a template)."""
    tree = env.parse(source)
    if any(True for _ in tree.find_all(OTHER_TEMPLATES)):
        return None
    uses = [node for node in tree.find_all(nodes.Name) if node.name in {"cookiecutter", "_cookiecutter"}]
    methods = {id(call.node) for call in tree.find_all(nodes.Call)}
    keys = [
        node.attr if isinstance(node, nodes.Getattr) else node.arg.value
        for node in tree.find_all((nodes.Getattr, nodes.Getitem))
        if isinstance(node.node, nodes.Name)
        and node.node.name == "cookiecutter"
        and id(node) not in methods
        and (isinstance(node, nodes.Getattr) or isinstance(node.arg, nodes.Const))
    ]
    return frozenset(keys) if len(keys) == len(uses) else None


@dataclass(frozen=True)
class TemplateFile:
    """One file of the project template, as cookiecutter will treat it."""

    source: str  # relative to the project template folder, unrendered
    verbatim: bool  # binary or matched by _copy_without_render: copied as it is
    newline: str | None  # the line ending cookiecutter writes: the file's first one
    reads: frozenset[str] | None  # the answers its text reads (None: possibly any)


class Renderer:
    """Renders the project template for any answers, compiling each file once."""

    def __init__(self) -> None:
        defaults = context_for({}, TEMPLATE_DIR)
        self.env = create_env_with_context(defaults)
        # cookiecutter's loader, with the folders it names relative to the project template.
        self.env.loader = FileSystemLoader([str(PROJECT_TEMPLATE_DIR), str(TEMPLATE_DIR / "templates")])
        walk = [
            (os.path.relpath(root, PROJECT_TEMPLATE_DIR), folders, files)
            for root, folders, files in os.walk(PROJECT_TEMPLATE_DIR)
        ]
        self.folders = sorted(
            os.path.normpath(os.path.join(root, folder)) for root, folders, _ in walk for folder in folders
        )
        sources = sorted(os.path.normpath(os.path.join(root, name)) for root, _, files in walk for name in files)
        self.files = [self._template_file(source, defaults) for source in sources]
        self._texts: dict[tuple[str, str], str] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._name_reads: dict[str, frozenset[str] | None] = {}

    def _template_file(self, source: str, defaults: dict[str, Any]) -> TemplateFile:
        path = PROJECT_TEMPLATE_DIR / source
        folders = [str(parent) for parent in Path(source).parents if str(parent) != "."]
        verbatim = any(is_copy_only_path(part, defaults) for part in [source, *folders]) or is_binary(str(path))
        if verbatim:
            return TemplateFile(source, verbatim=True, newline=None, reads=frozenset())
        with path.open(encoding="utf-8") as text:
            reads = answers_read(self.env, text.read())
            newlines = text.newlines
        # cookiecutter writes the line ending of the file's first line.
        newline = newlines[0] if isinstance(newlines, tuple) else newlines
        return TemplateFile(source, verbatim=False, newline=newline, reads=reads)

    def name(self, unrendered: str, context: dict[str, Any]) -> str:
        """A file or folder name, rendered once for each distinct value of the answers it reads."""
        if unrendered not in self._name_reads:
            self._name_reads[unrendered] = answers_read(self.env, unrendered)
        key = (unrendered, _values(context, self._name_reads[unrendered]))
        if key not in self._names:
            self._names[key] = self.env.from_string(unrendered).render(**context)
        return self._names[key]

    def text(self, file: TemplateFile, context: dict[str, Any]) -> str:
        """A file's text, rendered once for each distinct value of the answers it reads."""
        key = (file.source, _values(context, file.reads))
        if key not in self._texts:
            self._texts[key] = self.env.get_template(file.source).render(**context)
        return self._texts[key]

    def write(self, answers: Answers, output_dir: Path) -> Path:
        """Write the project for these answers into output_dir, as cookiecutter and the hooks would."""
        context = context_for(answers, output_dir)
        problems = pre_gen.validate(context["cookiecutter"])
        assert problems == [], problems
        project = output_dir / self.name(PROJECT_TEMPLATE_DIR.name, context)
        project.mkdir(parents=True)
        for folder in self.folders:
            (project / self.name(folder, context)).mkdir(parents=True, exist_ok=True)
        for file in self.files:
            source, target = PROJECT_TEMPLATE_DIR / file.source, project / self.name(file.source, context)
            if file.verbatim:
                shutil.copyfile(source, target)
            else:
                with target.open("w", encoding="utf-8", newline=file.newline) as output:
                    output.write(self.text(file, context))
            shutil.copymode(source, target)
        # The hook's warnings are about git, pre-commit and uv on this machine, not about the files.
        post_gen.finish(project, context["cookiecutter"], warn=lambda message: None)
        return project


def _values(context: dict[str, Any], reads: frozenset[str] | None) -> str:
    """The answers a template reads (all of them when unknown), as a key for its output."""
    answers = context["cookiecutter"]
    # A key the answers lack is left to Jinja, which renders it as cookiecutter would: an error.
    read = answers if reads is None else {key: answers.get(key) for key in reads}
    return json.dumps(read, sort_keys=True, default=str)


@cache
def renderer() -> Renderer:
    """One renderer per test process: its compiled templates serve every combination."""
    return Renderer()
