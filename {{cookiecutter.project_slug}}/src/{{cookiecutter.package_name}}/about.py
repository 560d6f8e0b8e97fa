"""What the service calls itself in its API docs (the project's answers when it was generated)."""

# The only module that holds the generated project's free-text answers; `fmt: skip` keeps ruff
# from changing the quoting of text that may itself contain quotes.
TITLE = {{ cookiecutter.project_name | quoted }}  # fmt: skip
DESCRIPTION = {{ cookiecutter.description | quoted }}  # fmt: skip
