"""Routes a pack adds to ``PromptServer.instance.app`` at import, and its web folder, are served."""
from __future__ import annotations

import asyncio
import shutil

import pytest


@pytest.fixture()
def routes_pack(registry, folders, tmp_path):
    from comfypacks import COMFY_PACKS
    from core.custom_nodes import load_custom_nodes

    shutil.copytree(COMFY_PACKS / "routes_pack", tmp_path / "packs" / "routes_pack")
    assert load_custom_nodes(registry, [tmp_path / "packs"]) == ["routes_pack"], registry.failures
    return registry


def serve(registry, folders, check):
    from aiohttp.test_utils import TestClient, TestServer

    from core.server import ServerConfig, create_app

    async def main():
        cfg = ServerConfig(folders=folders, db_path=folders.base / "queue.db", web_root=folders.base / "web")
        async with TestClient(TestServer(create_app(registry, cfg, start_worker=False))) as client:
            await asyncio.wait_for(check(client), 30)

    asyncio.run(main())


def test_app_router_routes_added_at_import_are_served(routes_pack, folders):
    async def check(client):
        resp = await client.get("/routes_pack/app")
        assert resp.status == 200 and await resp.json() == {"via": "app.router"}
        resp = await client.get("/api/routes_pack/hello")
        assert resp.status == 200 and await resp.json() == {"hello": "from routes_pack"}

    serve(routes_pack, folders, check)


def test_static_folder_added_at_import_is_served(routes_pack, folders):
    async def check(client):
        resp = await client.get("/routes_pack/static/ext.js")
        assert resp.status == 200 and "routes_pack extension" in await resp.text()

    serve(routes_pack, folders, check)


def test_web_directory_is_served_under_extensions(routes_pack, folders):
    async def check(client):
        resp = await client.get("/extensions/routes_pack/ext.js")
        assert resp.status == 200 and "routes_pack extension" in await resp.text()
        listed = await (await client.get("/extensions")).json()
        assert any(path.endswith("routes_pack/ext.js") for path in listed)

    serve(routes_pack, folders, check)


def test_object_info_answers_200_with_a_non_json_node_installed(registry, folders, tmp_path):
    from comfypacks import COMFY_PACKS
    from core.custom_nodes import load_custom_nodes

    shutil.copytree(COMFY_PACKS / "quirks_pack", tmp_path / "packs" / "quirks_pack")
    load_custom_nodes(registry, [tmp_path / "packs"])

    async def check(client):
        resp = await client.get("/object_info")
        assert resp.status == 200
        info = await resp.json()
        assert "Fine" in info and "NotJson" not in info

    serve(registry, folders, check)
