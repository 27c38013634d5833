"""Fixtures for the container tests: the engine and images once per session, a Compose project per test."""

from __future__ import annotations

import pytest

from .compose import ComposeProject, build_images, require_engine

BUILD_TIMES_S: dict[str, float] = {}


@pytest.fixture(scope="session")
def images() -> dict[str, float]:
    """Build the images once per session; what each build took (cached layers: a few seconds)."""
    require_engine()
    if not BUILD_TIMES_S:
        BUILD_TIMES_S.update(build_images())
    return BUILD_TIMES_S


@pytest.fixture()
def compose_project(images, tmp_path, request):
    """A factory for Compose projects; every project it made is taken down (containers, network, volumes)."""
    made: list[ComposeProject] = []

    def make(env: dict[str, str], extra_files=()) -> ComposeProject:
        project = ComposeProject(tmp_path, env, list(extra_files))
        made.append(project)
        return project

    def finalize() -> None:
        for project in made:
            project.down()

    request.addfinalizer(finalize)
    return make
