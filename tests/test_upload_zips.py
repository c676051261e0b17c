"""Crafted zips sent to the package upload (issue 17, part B2), through the real app in process
on SQLite, signed in as an admin: each one is a 422 naming the member and what is wrong with it
(API: JSON; page: the runs page listing the problem), never a 500, and a refused upload leaves
nothing in the packages folder (no empty ``<name>/``, no staging folder).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder import PackageBuilder
from webserver import RunningApp, csrf_of, running_app, signed_in


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def app(uploads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    package = PackageBuilder(tmp_path_factory.mktemp("small") / "pkg").healthy().write()
    database = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    with running_app(database, package, packages_dir=uploads) as running:
        yield running


def zip_of(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as z:
        warnings.simplefilter("ignore")         # "Duplicate name": what the crafted zip wants
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def bad_crc() -> bytes:
    body = bytearray(zip_of(("dipstick.yaml", b"organisation: {name: crc}\n")))
    at = body.index(b"organisation")
    body[at] ^= 0x01                  # stored (not deflated): the data changes, the CRC does not
    return bytes(body)


DEEP = "/".join(["d"] * 2000) + "/dipstick.yaml"
CRAFTED = {
    "file-and-folder": (zip_of(("x", b"1"), ("x/y", b"2")), "x", "both a file and a folder"),
    "dot": (zip_of((".", b"1")), ".", "'.' name"),
    "bad-crc": (bad_crc(), "dipstick.yaml", "Bad CRC"),
    "long-name": (zip_of(("a" * 300, b"1")), "a" * 255, "over 255 bytes"),
    "deep": (zip_of((DEEP, b"1")), DEEP[:255], "2000 nested folders"),
    "twice": (zip_of(("dipstick.yaml", b"a: 1\n"), ("dipstick.yaml", b"b: 2\n")),
              "dipstick.yaml", "the same path twice"),
    "control": (zip_of(("tickets\x01.csv", b"1")), "tickets\x01.csv", "control characters"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_zip_is_a_4xx_naming_the_member_and_leaves_nothing(
        app: RunningApp, uploads: Path, case: str) -> None:
    body, member, problem = CRAFTED[case]
    before = sorted(uploads.iterdir())
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/runs").text)
        r = http.post("/api/packages", data={"name": f"crafted-{case}"},
                      headers={"X-CSRF-Token": token},
                      files={"file": ("crafted.zip", body, "application/zip")})
        assert r.status_code == 422, r.text[:300]
        found = r.json()["detail"]["problems"][0]
        assert found["file"] == "crafted.zip" and found["field"] == member
        assert problem in found["message"]
        page = http.post(f"/runs/upload?csrf_token={token}", data={"name": f"crafted-{case}"},
                         files={"file": ("crafted.zip", body, "application/zip")})
        assert page.status_code == 422 and "nothing was replaced" in page.text
        assert problem.replace("'", "&#39;") in page.text
        assert f"<td>{member}</td>" in page.text           # the member, in the field column
    assert sorted(uploads.iterdir()) == before           # no crafted-*/, no .upload-* left


def test_a_refused_package_leaves_no_empty_folder(app: RunningApp, uploads: Path) -> None:
    """A well-formed zip whose package is invalid: the name's folder is not created."""
    with signed_in(app, "admin") as http:
        token = csrf_of(http.get("/runs").text)
        r = http.post("/api/packages", data={"name": "no-yaml"},
                      headers={"X-CSRF-Token": token},
                      files={"file": ("x.zip", zip_of(("readme.txt", b"hi")), "application/zip")})
        assert r.status_code == 422
    assert not (uploads / "no-yaml").exists()
    assert not [p for p in uploads.iterdir() if p.name.startswith(".")]
