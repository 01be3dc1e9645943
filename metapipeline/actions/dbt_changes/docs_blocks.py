"""`{% docs %}` blocks a removal leaves unused: the removed YAML entries used them, nothing left does."""

from __future__ import annotations

import re

from metapipeline.actions.dbt_changes.plan import Plan
from metapipeline.actions.dbt_changes.yaml_edit import node_strings

_DOC_REF = re.compile(r"""\bdoc\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"](\w+)['"]\s*\)""")


def delete_orphaned_docs(plan: Plan) -> None:
    """`{% docs %}` blocks the removed entries used and nothing left uses."""
    used_by_removed = {
        name
        for yaml in plan.yaml_files.values()
        for node in yaml.deleted_nodes
        for text in node_strings(node)
        for name in _DOC_REF.findall(text)
    }
    if not used_by_removed:
        return
    still_used = {
        name for path in plan.files if (text := plan.current(path)) for name in _DOC_REF.findall(text)
    }
    project = (plan.manifest.get("metadata") or {}).get("project_name")
    for name in sorted(used_by_removed - still_used):
        doc = (plan.manifest.get("docs") or {}).get(f"doc.{project}.{name}")
        if not isinstance(doc, dict) or not isinstance(doc.get("original_file_path"), str):
            continue  # a docs section the manifest check does not cover: leave the block alone
        path = plan.path(doc["original_file_path"])
        text = plan.current(path) or ""
        block = re.compile(
            rf"{{%-?\s*docs\s+{re.escape(name)}\s*-?%}}.*?{{%-?\s*enddocs\s*-?%}}[ \t]*\n?(?:[ \t]*\n)?",
            re.DOTALL,
        )
        new, count = block.subn("", text, count=1)
        if count:
            plan.rewrites[path] = new
            plan.summary.append(f"remove the docs block {name} from {path}")
            if not new.strip():
                plan.deletions.add(path)
