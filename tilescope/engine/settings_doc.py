"""docs/settings.md, written from `settings.KEYS` so the page can never miss a key.

    python -m tilescope.engine.settings_doc > docs/settings.md

A test compares the page with `render()`; a key added without regenerating fails it.
"""

from __future__ import annotations

from typing import Any

from tilescope.engine.settings import ENV_PREFIX, KEYS, SETTINGS_NAME, Key

INTRO = f"""# Settings

<!-- Written by `python -m tilescope.engine.settings_doc > docs/settings.md`; do not edit. -->

Every configurable value of tilescope is one key below. Where a value comes from, last wins:

1. the default in this table;
2. the user's settings file, `{SETTINGS_NAME}` in the configuration folder
   (`tilescope about` prints where that is), as `key: value` lines of YAML;
3. the environment variable (`{ENV_PREFIX}<KEY>` in upper case unless the table names another).

A bad value never stops the program: the log names the file or variable and the problem, and
the value from the step before is used. Unknown keys in the file are reported the same way.
Folder lists add up rather than replace: the variable's folders (separated by `os.pathsep`)
come before the file's.

Example `{SETTINGS_NAME}`:

```yaml
tile_cache_mb: 2048
model_paths:
  - /data/models
```
"""


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "(none)" if not value else ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _bound(number: float | None) -> str:
    if number is None:
        return ""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _range(key: Key) -> str:
    if key.minimum is None and key.maximum is None:
        return ""
    return f"{_bound(key.minimum)} .. {_bound(key.maximum)}"


def _kind(key: Key) -> str:
    return "list of folders" if key.kind is list else key.kind.__name__


def render() -> str:
    """The whole page (Markdown)."""
    rows = [
        "| key | type | default | range | environment variable | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for key in KEYS:
        meaning = key.doc.replace("|", "\\|")
        rows.append(
            f"| `{key.name}` | {_kind(key)} | {_value(key.default)} | {_range(key)} "
            f"| `{key.env}` | {meaning} |"
        )
    return INTRO + "\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
