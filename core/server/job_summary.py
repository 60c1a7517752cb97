"""What the official frontend's Job Queue and Media Assets sidebar read from a job (GET /jobs):
the output picked as its thumbnail, how many outputs can be previewed, the workflow id and the
error, in the shapes of ComfyUI's job API (docs/api.md, "Jobs").
"""
from __future__ import annotations

# Media keys of a node's ui dict that the frontend can show; other keys (e.g. "latents") are counted
# as outputs but never chosen as the thumbnail.
PREVIEWABLE_MEDIA = frozenset({"images", "video", "audio", "3d", "text"})
THREE_D_SUFFIXES = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
TEXT_SUFFIXES = (".txt", ".md", ".json")
TEXT_PREVIEW_CHARS = 1024


def _file_item(media: str, item) -> dict | None:
    """A ui entry as a file dict, or None when it names no file (plain text, flags)."""
    if isinstance(item, dict):
        return item
    if isinstance(item, str) and item.lower().endswith(THREE_D_SUFFIXES):
        return {"filename": item, "type": "output", "subfolder": "", "mediaType": "3d"}
    return None


def _previewable(media: str, item: dict) -> bool:
    if media in PREVIEWABLE_MEDIA:
        return True
    fmt = str(item.get("format") or "")
    name = str(item.get("filename") or "").lower()
    return fmt.startswith(("video/", "audio/")) or name.endswith(THREE_D_SUFFIXES + TEXT_SUFFIXES)


def _is_text(media: str, item: dict) -> bool:
    return media == "text" or str(item.get("filename") or "").lower().endswith(TEXT_SUFFIXES)


def outputs_summary(outputs: dict) -> tuple[int, int, dict | None]:
    """(outputs_count, previewable_outputs_count, preview_output) of a job's ui outputs.

    The thumbnail is, in order of preference: a saved (type "output") visual file, any other
    visual file (a temp preview), a saved text file, then raw text, so a text node that ran first
    never hides the image the job made.
    """
    count = previewable = 0
    saved = other = text_file = raw_text = None
    for node_id, ui in (outputs or {}).items():
        if not isinstance(ui, dict):
            continue
        for media, items in ui.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for entry in items:
                item = _file_item(media, entry)
                if item is None:
                    if media == "text" and raw_text is None and entry is not None:
                        value = entry[0] if isinstance(entry, (list, tuple)) and entry else str(entry)
                        raw_text = {"content": str(value)[:TEXT_PREVIEW_CHARS], "nodeId": str(node_id),
                                    "mediaType": "text"}
                        if len(str(value)) > TEXT_PREVIEW_CHARS:
                            raw_text["truncated"] = True
                    continue
                count += 1
                if not _previewable(media, item):
                    continue
                previewable += 1
                enriched = {**item, "nodeId": str(node_id)}
                enriched.setdefault("mediaType", media)
                if _is_text(media, item):
                    text_file = text_file or enriched
                elif item.get("type") == "output":
                    saved = saved or enriched
                else:
                    other = other or enriched
    return count, previewable, saved or other or text_file or raw_text


def workflow_id(extra_data: dict) -> str | None:
    """The id of the UI workflow a job was queued from (``extra_pnginfo.workflow.id``), if any."""
    pnginfo = extra_data.get("extra_pnginfo") if isinstance(extra_data, dict) else None
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    wid = workflow.get("id") if isinstance(workflow, dict) else None
    return str(wid) if wid is not None else None


def execution_error(messages: list) -> dict | None:
    """The job's ``execution_error`` event data, when it has one with the fields clients rely on."""
    for entry in reversed(messages or []):
        if isinstance(entry, (list, tuple)) and len(entry) >= 2 and entry[0] == "execution_error":
            data = entry[1]
            if isinstance(data, dict):
                out = dict(data)
                out["node_id"] = "" if out.get("node_id") is None else str(out["node_id"])
                out["node_type"] = "" if out.get("node_type") is None else str(out["node_type"])
                out["exception_message"] = str(out.get("exception_message") or "")
                out["exception_type"] = str(out.get("exception_type") or "")
                tb = out.get("traceback")
                out["traceback"] = [str(t) for t in tb] if isinstance(tb, list) else ([str(tb)] if tb else [])
                return out
    return None
