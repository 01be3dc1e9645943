"""Paths that try to leave the dbt project: in the manifest, in a change set, through symlinks, in a
repository archive.

The contract: planning refuses with UnsafePathError (or RemovalError when the path is merely not a
project file), applying a change set refuses before writing anything, and no file outside the
project is ever created, changed or deleted.

Inputs: 34 hostile `original_file_path` values and 4 plain spellings, 14 hostile change-set paths
(each written and deleted), 6 symlink set-ups, 150 generated paths for `safe_path`, 6 hostile
archives and 6 corrupt ones.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hostile_inputs import examples
from hypothesis import given
from hypothesis import strategies as st

from metapipeline.actions.dbt_changes import (
    ChangeSet,
    RemovalError,
    UnsafePathError,
    plan_removal,
    read_archive,
    read_project,
    safe_path,
)
from metapipeline.platform.unused import UnusedModel

MODEL = "model.shop.gone"


def manifest_for(path: Any) -> dict[str, Any]:
    node = {
        "unique_id": MODEL,
        "resource_type": "model",
        "name": "gone",
        "package_name": "shop",
        "fqn": ["shop", "gone"],
        "original_file_path": path,
    }
    return {"metadata": {"project_name": "shop"}, "nodes": {MODEL: node}, "sources": {}, "exposures": {}}


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (symlinks not followed) with a hash of its content."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            found[str(path)] = "link" if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A dbt project and, beside it, files an attacker would like to reach."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "models").mkdir(parents=True)
    (project / "models" / "gone.sql").write_text("select 1")
    (project / "dbt_project.yml").write_text("name: shop\n")
    outside.mkdir()
    (outside / "secret.sql").write_text("keep me")
    (outside / "etc").mkdir()
    (outside / "etc" / "passwd").write_text("root:x:0:0")
    return project, outside


# (path, the error, what its message must say)
UNSAFE = [
    ("../../etc/passwd", UnsafePathError, "climbs out"),
    ("../outside/secret.sql", UnsafePathError, "climbs out"),
    ("models/../../outside/secret.sql", UnsafePathError, "climbs out"),
    ("models/../models/gone.sql", UnsafePathError, "climbs out"),
    ("models/..", UnsafePathError, "climbs out"),
    ("..", UnsafePathError, "climbs out"),
    ("/etc/passwd", UnsafePathError, "absolute"),
    ("//server/share/x.sql", UnsafePathError, "absolute"),
    ("/models/gone.sql", UnsafePathError, "absolute"),
    ("\\\\server\\share", UnsafePathError, "absolute"),
    ("models\\gone.sql", UnsafePathError, "not a plain relative path"),
    ("..\\..\\etc\\passwd", UnsafePathError, "not a plain relative path"),
    ("C:/Windows/system.ini", UnsafePathError, "absolute"),
    ("c:models/gone.sql", UnsafePathError, "absolute"),
    ("models/gone.sql\0.txt", UnsafePathError, "not a plain relative path"),
    ("\0", UnsafePathError, "not a plain relative path"),
    (5, RemovalError, "'original_file_path' is a number, expected a string"),
    (["models", "gone.sql"], RemovalError, "'original_file_path' is a list, expected a string"),
    ({"path": "x"}, RemovalError, "'original_file_path' is an object, expected a string"),
    (b"models/gone.sql", RemovalError, "'original_file_path' is bytes, expected a string"),
    (None, RemovalError, "no original_file_path"),
    ("", RemovalError, "no original_file_path"),
    ("/", UnsafePathError, "absolute"),
    (".", RemovalError, "not among the project files"),
    ("./", RemovalError, "not among the project files"),
    ("models/", RemovalError, "not among the project files"),
    ("~/gone.sql", RemovalError, "not among the project files"),
    ("$HOME/gone.sql", RemovalError, "not among the project files"),
    ("%2e%2e/%2e%2e/etc/passwd", RemovalError, "not among the project files"),
    ("models/gone.sql\n", RemovalError, "not among the project files"),
    ("models/\u202egone.sql", RemovalError, "not among the project files"),
    ("models/ｇｏｎｅ.sql", RemovalError, "not among the project files"),
    ("models/…/gone.sql", RemovalError, "not among the project files"),
    ("file:///etc/passwd", RemovalError, "not among the project files"),
]


@pytest.mark.parametrize(("path", "error", "message"), UNSAFE, ids=[repr(p[0])[:40] for p in UNSAFE])
def test_a_hostile_original_file_path_is_refused_and_nothing_moves(
    path: Any, error: type[Exception], message: str, world: tuple[Path, Path]
) -> None:
    project, _ = world
    before = snapshot(project.parent)
    files = read_project(project)
    model = UnusedModel(MODEL, "gone", None, None, ())
    with pytest.raises(error, match=message):
        plan_removal(files.files, manifest_for(path), [model], symlinks=files.symlinks)
    assert snapshot(project.parent) == before


def test_plain_relative_spellings_of_the_real_path_are_accepted(world: tuple[Path, Path]) -> None:
    project, _ = world
    files = read_project(project)
    for path in ("models/gone.sql", "./models/gone.sql", "models//gone.sql", "models/./gone.sql"):
        change = plan_removal(files.files, manifest_for(path), [UnusedModel(MODEL, "gone", None, None, ())])
        assert change.files == {"models/gone.sql": None}


HOSTILE_WRITES = [
    "../outside/secret.sql",
    "../../etc/passwd",
    "models/../../outside/new.sql",
    "/etc/passwd",
    str(Path("/tmp") / "metapipeline-escape.sql"),
    "models\\..\\..\\outside\\x.sql",
    "C:/x.sql",
    "models/x.sql\0",
    "",
    "/",
    "..",
    "models/..",
    "./../outside/x.sql",
    "models/./../../outside/x.sql",
]


@pytest.mark.parametrize("path", HOSTILE_WRITES, ids=repr)
@pytest.mark.parametrize("text", ["written", None], ids=["write", "delete"])
def test_applying_a_change_set_never_leaves_the_project(
    path: str, text: str | None, world: tuple[Path, Path]
) -> None:
    project, _ = world
    before = snapshot(project.parent)
    change = ChangeSet(files={"models/fine.sql": "select 2", path: text})
    with pytest.raises(UnsafePathError, match="refusing"):
        change.apply_to(project)
    after = snapshot(project.parent)
    assert {k: v for k, v in after.items() if not k.endswith("fine.sql")} == before
    assert not Path("/tmp/metapipeline-escape.sql").exists()


# -- symlinks ------------------------------------------------------------------------------------


def test_a_model_behind_a_symlinked_directory_is_refused(world: tuple[Path, Path]) -> None:
    project, outside = world
    (project / "models" / "ext").symlink_to(outside, target_is_directory=True)
    files = read_project(project)
    assert "models/ext" in files.symlinks and not any(p.startswith("models/ext/") for p in files.files)
    model = UnusedModel(MODEL, "gone", None, None, ())
    with pytest.raises(UnsafePathError, match="'models/ext' is a symlink"):
        plan_removal(files.files, manifest_for("models/ext/secret.sql"), [model], symlinks=files.symlinks)
    assert (outside / "secret.sql").read_text() == "keep me"


def test_a_symlinked_model_file_is_refused(world: tuple[Path, Path]) -> None:
    project, outside = world
    (project / "models" / "gone.sql").unlink()
    (project / "models" / "gone.sql").symlink_to(outside / "secret.sql")
    files = read_project(project)
    with pytest.raises(UnsafePathError, match="is a symlink"):
        plan_removal(
            files.files,
            manifest_for("models/gone.sql"),
            [UnusedModel(MODEL, "gone", None, None, ())],
            symlinks=files.symlinks,
        )
    assert (outside / "secret.sql").read_text() == "keep me"


@pytest.mark.parametrize(
    ("link", "target", "write"),
    [
        ("models/ext", "outside", "models/ext/new.sql"),
        ("models/gone.sql", "outside/secret.sql", "models/gone.sql"),
        ("models/deep", "outside/etc", "models/deep/passwd"),
    ],
)
@pytest.mark.parametrize("text", ["overwritten", None], ids=["write", "delete"])
def test_applying_through_a_symlink_is_refused(
    link: str, target: str, write: str, text: str | None, world: tuple[Path, Path]
) -> None:
    project, _ = world
    (project / link).unlink(missing_ok=True)
    (project / link).symlink_to(project.parent / target)
    before = snapshot(project.parent)
    with pytest.raises(UnsafePathError, match="symlink"):
        ChangeSet(files={write: text}).apply_to(project)
    assert snapshot(project.parent) == before


def test_a_project_root_that_is_a_symlink_is_refused() -> None:
    with pytest.raises(UnsafePathError, match="is a symlink"):
        plan_removal(
            {"dbt/models/gone.sql": "select 1"},
            manifest_for("models/gone.sql"),
            [UnusedModel(MODEL, "gone", None, None, ())],
            project_root="dbt",
            symlinks={"dbt"},
        )


# -- generated paths ---------------------------------------------------------------------------------

_segment = st.one_of(
    st.sampled_from(
        ["..", ".", "", "models", "gone.sql", "~", "C:", "c:", "\\", "..\\..", "\0", " ", "...", "%2e%2e"]
    ),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=6),
)
_path = st.lists(_segment, min_size=1, max_size=6).map("/".join)


@examples(150)
@given(root=st.one_of(st.just(""), _path), relative=_path)
def test_safe_path_returns_only_paths_inside_the_project(root: str, relative: str) -> None:
    try:
        joined = safe_path(root, relative)
    except UnsafePathError as exc:
        assert str(exc).startswith("refusing")
        return
    assert joined == posixpath.normpath(joined)
    assert not joined.startswith(("/", "\\")) and ".." not in joined.split("/") and "\0" not in joined
    assert joined not in ("", ".")
    inside = Path("/project")
    assert (inside / joined).resolve().is_relative_to(inside)


# -- repository archives ------------------------------------------------------------------------------


def archive(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_an_archive_keeps_links_as_links_never_as_files() -> None:
    files = read_archive(
        archive(
            [
                ("owner-repo-sha/models/gone.sql", b"select 1"),
                link("owner-repo-sha/models/passwd.sql", "/etc/passwd"),
                link("owner-repo-sha/models/hard.sql", "owner-repo-sha/models/gone.sql", tarfile.LNKTYPE),
            ]
        )
    )
    assert files.files == {"models/gone.sql": "select 1"}
    assert files.symlinks == {"models/passwd.sql", "models/hard.sql"}


@pytest.mark.parametrize(
    "name",
    [
        "owner-repo-sha/../../evil.yml",
        "owner-repo-sha/models/../../../evil.yml",
        "owner-repo-sha/models\\..\\..\\evil.yml",
        "owner-repo-sha//etc/passwd.yml",
        "owner-repo-sha/./../evil.yml",
    ],
    ids=repr,
)
def test_an_archive_with_a_member_outside_the_repository_is_refused(name: str) -> None:
    data = archive([("owner-repo-sha/models/gone.sql", b"select 1"), (name, b"models: []")])
    with pytest.raises(UnsafePathError, match="refusing the repository archive"):
        read_archive(data)


NOISE = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2000))  # incompressible


@pytest.mark.parametrize("cut", [0, 10, 30, 0.5, 0.9], ids=str)
def test_a_corrupt_archive_is_refused_clearly(cut: float) -> None:
    data = archive([("owner-repo-sha/models/gone.sql", NOISE)])
    with pytest.raises(ValueError, match=r"not a readable \.tar\.gz"):
        read_archive(data[: int(cut if cut >= 1 else len(data) * cut)] if cut else b"not an archive")


def test_a_gzip_that_holds_no_tar_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"not a readable \.tar\.gz"):
        read_archive(gzip.compress(b"models: []" * 100))
