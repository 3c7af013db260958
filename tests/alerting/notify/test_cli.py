"""``wardwatch notify test PERSON``: the real command in a subprocess, against loopback receivers."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

REPO = Path(__file__).resolve().parents[3]


async def run_cli(*args: str, env_home: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "collector.cli",
        "notify",
        "test",
        *args,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_home)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def receivers(aiohttp_server: Any, sms_status: int) -> tuple[Any, list[Any], list[Any]]:
    hooks: list[Any] = []
    sms: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        hooks.append(json.loads(await request.read()))
        return web.Response(text="ok")

    async def gateway(request: web.Request) -> web.Response:
        sms.append(json.loads(await request.read()))
        return web.Response(status=sms_status, text="scripted")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/sms", gateway)
    return await aiohttp_server(app), hooks, sms


def write_files(tmp_path: Path, server: Any) -> tuple[Path, Path]:
    roster = {
        "shifts": {"day": {"start": "08:00", "end": "20:00"}},
        "people": [
            {
                "id": "zhangsan",
                "name": "张三",
                "contacts": [
                    {"kind": "webhook", "url": str(server.make_url("/hook"))},
                    {"kind": "sms", "phone": "+8613800001111"},
                    {"kind": "email", "address": "zhangsan@hosp.local"},
                ],
            }
        ],
    }
    settings = {
        "notify": {
            "channels": [
                {"kind": "webhook", "secret": "cli-webhook-secret-123"},
                {
                    "kind": "sms",
                    "url": str(server.make_url("/sms")),
                    "body": '{"to": "$phone", "text": "$text"}',
                },
            ]
        }
    }
    (tmp_path / "roster.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True))
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    return tmp_path / "roster.yaml", tmp_path / "settings.yaml"


async def test_sends_a_test_page_through_every_method_and_reports_each(aiohttp_server, tmp_path):
    server, hooks, sms = await receivers(aiohttp_server, sms_status=200)
    roster, settings = write_files(tmp_path, server)
    code, out, err = await run_cli(
        "zhangsan", "--roster", str(roster), "--config", str(settings), env_home=tmp_path
    )
    assert code == 1, err  # email has no channel configured
    lines = out.splitlines()
    assert lines[0] == "test page to 张三 (zhangsan):"
    assert "webhook" in lines[1] and lines[1].endswith("OK")
    assert "sms" in lines[2] and "+8613800001111" in lines[2] and lines[2].endswith("OK")
    assert "email" in lines[3] and "FAILED (permanent): no email channel is configured" in lines[3]
    [hook] = hooks
    assert hook["kind"] == "test" and hook["person"]["id"] == "zhangsan"
    assert hook["links"] == {"acknowledge": None, "resolve": None}
    [text] = sms
    assert text["to"] == "+8613800001111" and "测试" in text["text"]


async def test_a_gateway_error_is_reported_as_retryable(aiohttp_server, tmp_path):
    server, _, _ = await receivers(aiohttp_server, sms_status=503)
    roster, settings = write_files(tmp_path, server)
    code, out, _ = await run_cli(
        "zhangsan", "--roster", str(roster), "--config", str(settings), "--language", "en", env_home=tmp_path
    )
    assert code == 1
    assert "FAILED (retryable)" in out.splitlines()[2] and "HTTP 503" in out.splitlines()[2]


async def test_an_unknown_person_is_a_usage_error(aiohttp_server, tmp_path):
    server, hooks, _ = await receivers(aiohttp_server, sms_status=200)
    roster, settings = write_files(tmp_path, server)
    code, _, err = await run_cli(
        "nobody", "--roster", str(roster), "--config", str(settings), env_home=tmp_path
    )
    assert code == 2 and "no person 'nobody'" in err
    assert hooks == []
