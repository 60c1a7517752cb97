"""Test support: mistral-common's own Tekken tokenizer and instruct encoding (the reference our tokenizer and
prompt format are checked against; mistral-common is a test requirement, never used by the product)."""
from __future__ import annotations

import json

from core.models.mistral_tokenizer import TEKKEN_FILE


def reference_tekkenizer():
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(str(TEKKEN_FILE))


def reference_chat_ids(tmp_path, system: str, prompt: str, version: str = "v7") -> list:
    """``[system, user]`` as mistral-common encodes the chat for a Tekken file of tokenizer ``version``
    (the shipped file says v3, whose instruct format has no system-prompt tokens; Mistral-Small-3.x is v7+)."""
    from mistral_common.protocol.instruct.messages import SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    data = json.loads(TEKKEN_FILE.read_text(encoding="utf-8"))
    data["config"]["version"] = version
    path = tmp_path / f"tekken_{version}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    tok = MistralTokenizer.from_file(str(path))
    request = ChatCompletionRequest(messages=[SystemMessage(content=system), UserMessage(content=prompt)])
    return tok.encode_chat_completion(request).tokens
