"""/prompt, /queue, /interrupt, /history and the job-status API (docs/comfy-api.md §1.1-1.4, §1.8)."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from aiohttp import web

from core.compat import prompt_server
from core.server import job_summary
from core.server.jsonio import BadJSON, error_response, json_response, read_json
from core.server.state import state

log = logging.getLogger(__name__)

SENSITIVE_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
JOB_STATUS = {"pending": "pending", "running": "in_progress", "success": "completed", "error": "failed",
              "lost": "failed", "interrupted": "cancelled", "cancelled": "cancelled"}


def prompt_error(kind: str, message: str, details: str = "", status: int = 400, extra=None):
    error = {"type": kind, "message": message, "details": details or message, "extra_info": extra or {}}
    return json_response({"error": error, "node_errors": {}}, status=status)


def is_ui_workflow(data) -> bool:
    try:
        from core.workflow.formats import is_ui_workflow as check
    except ImportError:
        return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data
    return check(data)


def _has_prompt_hooks() -> bool:
    return bool(getattr(prompt_server(), "_prompt_handlers", None))


def _check_shape(prompt):
    """Structural checks the validator may assume: a dict of node dicts with dict inputs."""
    if not isinstance(prompt, dict):
        return "the prompt must be an object mapping node ids to nodes"
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            return f"node #{node_id} is not an object"
        if "inputs" in node and not isinstance(node["inputs"], dict):
            return f"node #{node_id}: 'inputs' must be an object"
    return None


async def get_prompt(request):
    return json_response({"exec_info": {"queue_remaining": state(request).store.count_remaining()}})


async def post_prompt(request):
    st = state(request)
    try:
        body = await read_json(request)
    except BadJSON as e:
        return prompt_error("invalid_prompt", "Request body is not valid JSON", str(e))
    if not isinstance(body, dict):
        return prompt_error("invalid_prompt", "Request body must be a JSON object")
    if "prompt" not in body and is_ui_workflow(body):
        body = {"prompt": body}  # a bare UI workflow file posted as-is
    if "prompt" not in body and "workflow" in body:
        body["prompt"] = body["workflow"]
    if "prompt" not in body:
        return prompt_error("no_prompt", "No prompt provided")
    prompt = body["prompt"]
    extra_data = body.get("extra_data", {})
    if extra_data is None:
        extra_data = {}
    if not isinstance(extra_data, dict):
        return prompt_error("invalid_prompt", "extra_data must be an object")
    extra_data = dict(extra_data)

    if is_ui_workflow(prompt):
        try:
            from core.workflow.formats import ui_to_api
            workflow = prompt
            prompt = ui_to_api(workflow, st.registry.object_info())
        except Exception as e:  # a converter failure is the client's workflow's fault: 400, named
            log.info("UI workflow conversion failed: %s", e)
            return prompt_error("invalid_prompt", "Could not convert the UI workflow to a prompt", str(e))
        pnginfo = extra_data.setdefault("extra_pnginfo", {})
        if isinstance(pnginfo, dict):
            pnginfo.setdefault("workflow", workflow)

    if _has_prompt_hooks():  # packs' PromptServer.instance.add_on_prompt_handler hooks see the API prompt
        hooked = prompt_server().trigger_on_prompt({**body, "prompt": prompt, "extra_data": extra_data})
        if isinstance(hooked, dict):
            prompt, extra_data = hooked.get("prompt"), hooked.get("extra_data")
            extra_data = dict(extra_data) if isinstance(extra_data, dict) else {}

    shape = _check_shape(prompt)
    if shape:
        return prompt_error("invalid_prompt", "Cannot execute because the prompt is malformed", shape)

    prompt_id = body.get("prompt_id")
    if prompt_id is not None:
        if not isinstance(prompt_id, str) or not _canonical_uuid(prompt_id):
            return prompt_error("invalid_prompt_id", "Invalid prompt_id",
                                "prompt_id must be a lower-case hyphenated UUID")
    else:
        prompt_id = str(uuid.uuid4())

    number = body.get("number")
    # the reader already refused non-finite and oversized numbers; this is the type check
    if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))):
        return prompt_error("invalid_prompt", "number must be a number")
    targets = body.get("partial_execution_targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        return prompt_error("invalid_prompt", "partial_execution_targets must be a list of node ids")
    client_id = body.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        return prompt_error("invalid_prompt", "client_id must be a string")

    try:
        # off the event loop: INPUT_TYPES may scan model folders and VALIDATE_INPUTS may be async or slow
        result = await asyncio.get_running_loop().run_in_executor(None, st.validate, st.registry, prompt, targets)
    except Exception as e:  # a validator bug: say so (500) rather than blame the client's prompt
        log.exception("validation raised on prompt %s", prompt_id)
        return prompt_error("server_error", "Validation failed inside the server", repr(e), status=500)
    if not result.ok:
        return json_response({"error": result.error, "node_errors": result.node_errors}, status=400)

    if client_id is not None:
        extra_data["client_id"] = client_id
    extra_data.setdefault("create_time", int(time.time() * 1000))
    usage = request.headers.get("Comfy-Usage-Source")
    if usage:
        extra_data["comfy_usage_source"] = usage
    sensitive = {k: extra_data.pop(k) for k in SENSITIVE_KEYS if k in extra_data}
    if sensitive:
        st.worker.sensitive[prompt_id] = sensitive
    try:
        job = st.store.add(prompt_id, prompt, extra_data, list(result.outputs), number=number,
                           front=bool(body.get("front")), client_id=client_id)
    except KeyError:
        st.worker.sensitive.pop(prompt_id, None)
        return prompt_error("invalid_prompt_id", "Invalid prompt_id", f"prompt_id {prompt_id} already exists")
    st.worker.wake()
    st.hub.send_status()
    return json_response({"prompt_id": prompt_id, "number": job.number, "node_errors": result.node_errors or {}})


def _canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def get_queue(request):
    st = state(request)
    return json_response({"queue_running": [j.queue_item() for j in st.store.running()],
                              "queue_pending": [j.queue_item() for j in st.store.pending()]})


async def _clear_or_delete(request, clear, delete) -> web.Response:
    """Body ``{"clear": true}`` and/or ``{"delete": [prompt ids]}`` (POST /queue and /history)."""
    body = await read_json(request, {})
    if not isinstance(body, dict):
        return error_response('the body must be a JSON object: {"clear": true} and/or {"delete": [ids]}')
    if body.get("clear"):
        clear()
    ids = body.get("delete")
    if isinstance(ids, list):
        delete([d for d in ids if isinstance(d, str)])
    return web.Response(status=200)


async def post_queue(request):
    st = state(request)
    resp = await _clear_or_delete(request, st.store.clear_pending, st.store.delete_pending)
    if resp.status == 200:
        st.hub.send_status()
    return resp


async def post_interrupt(request):
    st = state(request)
    body = await read_json(request, {})  # empty: interrupt whatever runs; broken JSON: 400, nothing stopped
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    st.worker.interrupt(prompt_id if isinstance(prompt_id, str) else None)
    return web.Response(status=200)


def history_entry(job) -> dict:
    status_str = "success" if job.status == "success" else "error"
    meta = {nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
            for nid in job.outputs}
    timing = {"queued": job.created, "started": job.started, "finished": job.finished,
              "duration_s": (job.finished - job.started) if job.finished and job.started else None}
    return {"prompt": job.queue_item(), "outputs": job.outputs,
            "status": {"status_str": status_str, "completed": job.status == "success", "messages": job.messages},
            "meta": meta, "timing": timing}


def _int_param(request, name):
    value = request.query.get(name)
    if value is None or value == "":
        return None
    return int(value)


async def get_history(request):
    try:
        max_items, offset = _int_param(request, "max_items"), _int_param(request, "offset")
    except ValueError:
        return error_response("max_items and offset must be integers")
    jobs = state(request).store.history(max_items, offset)
    return json_response({j.prompt_id: history_entry(j) for j in jobs})


async def get_history_item(request):
    job = state(request).store.get(request.match_info["prompt_id"])
    if job is None or job.status not in ("success", "error", "interrupted", "lost"):
        return json_response({})
    return json_response({job.prompt_id: history_entry(job)})


async def post_history(request):
    st = state(request)
    return await _clear_or_delete(request, st.store.clear_history, st.store.delete_history)


# --- job status API (newest ComfyUI's /api/jobs, plus status by id after a restart) ----------------
def job_json(job, st, detail: bool = False) -> dict:
    """A job as ComfyUI's job API gives it; ``detail`` adds the workflow it was queued from."""
    ms = lambda t: int(t * 1000) if t else None  # noqa: E731
    count, previewable, preview = job_summary.outputs_summary(job.outputs)
    error = job_summary.execution_error(job.messages)
    if error is None and job.error:
        error = job_summary.execution_error([["execution_error", job.error]])
    out = {"id": job.prompt_id, "status": JOB_STATUS.get(job.status, job.status), "state": job.status,
           "priority": job.number, "create_time": job.extra_data.get("create_time") or ms(job.created),
           "execution_start_time": ms(job.started), "execution_end_time": ms(job.finished),
           "outputs_count": count, "previewable_outputs_count": previewable, "preview_output": preview,
           "workflow_id": job_summary.workflow_id(job.extra_data),
           "outputs": job.outputs, "execution_error": error, "client_id": job.client_id,
           "instance_id": st.instance_id, "worker_id": job.worker}
    if detail:
        extra = {k: v for k, v in job.extra_data.items() if k not in SENSITIVE_KEYS}
        out["workflow"] = {"prompt": job.prompt, "extra_data": extra}
        out["execution_status"] = {"status_str": "success" if job.status == "success" else "error",
                                   "completed": job.status == "success", "messages": job.messages}
    return out


async def get_jobs(request):
    st = state(request)
    wanted = {s.strip() for s in request.query.get("status", "").split(",") if s.strip()}
    jobs = [j for j in st.store.jobs() if not wanted or JOB_STATUS.get(j.status) in wanted or j.status in wanted]
    sort_by = request.query.get("sort_by", "created_at")
    if sort_by not in ("created_at", "execution_duration"):
        return json_response({"error": f"sort_by {sort_by!r} is not one of created_at, execution_duration"},
                                 status=400)
    if sort_by == "execution_duration":
        key = lambda j: (j.finished - j.started) if j.finished and j.started else 0.0  # noqa: E731
    else:
        key = lambda j: j.created  # noqa: E731
    jobs.sort(key=key, reverse=request.query.get("sort_order", "desc") != "asc")
    try:
        offset = _int_param(request, "offset") or 0
        limit = _int_param(request, "limit")
    except ValueError:
        return json_response({"error": "limit and offset must be integers"}, status=400)
    if offset < 0 or (limit is not None and limit < 0):
        return json_response({"error": "limit and offset must not be negative"}, status=400)
    page = jobs[offset:offset + limit] if limit is not None else jobs[offset:]
    return json_response({"jobs": [job_json(j, st) for j in page],
                              "pagination": {"offset": offset, "limit": limit, "total": len(jobs),
                                             "has_more": offset + len(page) < len(jobs)}})


async def get_job(request):
    st = state(request)
    prompt_id = request.match_info["prompt_id"]
    job = st.store.get(prompt_id)
    if job is None:
        return json_response({"error": "Job not found", "id": prompt_id, "status": "unknown",
                                  "instance_id": st.instance_id}, status=404)
    return json_response(job_json(job, st, detail=True))


async def cancel_job(request):
    st = state(request)
    prompt_id = request.match_info["prompt_id"]
    job = st.store.get(prompt_id)
    if job is None:
        return json_response({"error": "Job not found"}, status=404)
    cancelled = _cancel(st, job)
    return json_response({"cancelled": cancelled})


async def cancel_jobs(request):
    st = state(request)
    body = await read_json(request, {})
    ids = body.get("job_ids", body.get("ids")) if isinstance(body, dict) else None
    if not isinstance(ids, list):
        return error_response('expected {"job_ids": [ids]}')
    done = [i for i in ids if isinstance(i, str) and (job := st.store.get(i)) is not None and _cancel(st, job)]
    return json_response({"cancelled": done})


def _cancel(st, job) -> bool:
    if job.status == "pending":
        ok = st.store.delete_pending([job.prompt_id]) > 0
        st.hub.send_status()
        return ok
    if job.status == "running":
        return st.worker.interrupt(job.prompt_id)
    return False


ROUTES = [
    ("GET", "/prompt", get_prompt), ("POST", "/prompt", post_prompt),
    ("GET", "/queue", get_queue), ("POST", "/queue", post_queue),
    ("POST", "/interrupt", post_interrupt),
    ("GET", "/history", get_history), ("GET", "/history/{prompt_id}", get_history_item),
    ("POST", "/history", post_history),
    ("GET", "/jobs", get_jobs), ("GET", "/jobs/{prompt_id}", get_job), ("GET", "/job/{prompt_id}", get_job),
    ("POST", "/jobs/{prompt_id}/cancel", cancel_job), ("POST", "/jobs/cancel", cancel_jobs),
]
