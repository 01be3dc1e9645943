"""File edits that remove unused dbt models, as a change set for a pull request.

One module a concept:

- `planner`: `plan_removal`, which models go and which edits that takes (see its docstring);
- `blockers`: which candidates stay because something that stays references them;
- `refs`: models by name and version, and which of them a `ref()` reaches;
- `plan`: the state of one planning pass;
- `leftovers`: what only removed models used, listed for people (follow-ups), never edited;
- `properties`: edits to properties YAML; `project_config`: `dbt_project.yml` and `selectors.yml`;
  `docs_blocks`: `{% docs %}` blocks left unused;
- `yaml_edit`: the line-deleting YAML editor and its parse cache;
- `project_files`: reading the project (checkout or tarball) and the path check every edit passes;
- `changeset`: `ChangeSet`, what a pull request publishes; `pr_text`: the pull request's text.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

from metapipeline.actions.dbt_changes.changeset import ChangeSet, RemovalError
from metapipeline.actions.dbt_changes.planner import plan_removal
from metapipeline.actions.dbt_changes.pr_text import ModelRunInfo, removal_pr_text
from metapipeline.actions.dbt_changes.project_files import (
    ProjectFiles,
    UnsafePathError,
    read_archive,
    read_project,
    safe_path,
)
from metapipeline.actions.dbt_changes.yaml_edit import ParseCache

__all__ = [
    "MODULES",
    "ChangeSet",
    "ModelRunInfo",
    "ParseCache",
    "ProjectFiles",
    "RemovalError",
    "UnsafePathError",
    "plan_removal",
    "read_archive",
    "read_project",
    "removal_pr_text",
    "safe_path",
]

# Every module of this package, for `inputs_fingerprint(code=...)`: a change to any of them may
# change the pull request, so none is left out (found here, not listed by hand).
MODULES: tuple[ModuleType, ...] = (
    sys.modules[__name__],
    *(importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)),
)
