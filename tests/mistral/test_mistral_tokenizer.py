"""The Tekken tokenizer built from shipped data equals mistral-common's, and FLUX.2 [dev]'s prompt format."""
import base64
import json

import pytest

from core.models.mistral_text import SYSTEM_MESSAGE, prompt_ids
from core.models.mistral_tokenizer import TEKKEN_FILE, tekken_tokenizer
from mistral_reference import reference_chat_ids, reference_tekkenizer

PROMPTS = [
    "Hello, world!",
    "a red fox sitting in the snow, golden hour, 35mm photo",
    "Ünïcödé café — naïve façade, 東京タワー at night 🐱🚀, ‘curly quotes’",
    "Привет мир; ελληνικά; עברית; العربية; हिन्दी",
    "  leading and trailing spaces  \n\nnew\tlines and tabs 1234567890 $12.50",
    "code: def f(x): return x**2 // 3  # comment",
    "A sign that reads \"OPEN 24/7\" in neon, hex #FF5733",
]


@pytest.fixture(scope="module")
def reference():
    return reference_tekkenizer()


@pytest.mark.parametrize("text", PROMPTS)
def test_token_ids_equal_mistral_common(reference, text):
    assert tekken_tokenizer().encode(text) == reference.encode(text, bos=False, eos=False)


@pytest.mark.parametrize("text", PROMPTS)
def test_decode_gives_the_text_back(text):
    tok = tekken_tokenizer()
    assert tok.decode(tok.encode(text)) == text


def test_regular_token_ids_start_after_the_1000_control_ids():
    # "Hello", ",", " world", "!" at ranks 21177, 44, 3304, 33 of the Tekken vocabulary
    assert tekken_tokenizer().encode("Hello, world!") == [22177, 1044, 4304, 1033]


def test_control_tokens_have_mistral_ids():
    sp = tekken_tokenizer().SPECIAL
    assert (sp["<unk>"], sp["<s>"], sp["</s>"], sp["[INST]"], sp["[/INST]"], sp["<pad>"]) == (0, 1, 2, 3, 4, 11)
    assert (sp["[SYSTEM_PROMPT]"], sp["[/SYSTEM_PROMPT]"]) == (17, 18)
    assert tekken_tokenizer().vocab_size == 131072 and len(tekken_tokenizer().special_tokens) == 1000


def test_control_token_names_in_a_prompt_stay_text(reference):
    ids = tekken_tokenizer().encode("[INST] a cat [IMG] <s>")
    assert all(i >= 1000 for i in ids)
    assert ids == reference.encode("[INST] a cat [IMG] <s>", bos=False, eos=False)


@pytest.mark.parametrize("version", ["v7"])
def test_flux2_prompt_equals_mistral_common_chat_encoding(tmp_path, version):
    prompt = "a cat wearing a tiny hat, studio light — «bonne nuit» 🌙"
    expected = reference_chat_ids(tmp_path, SYSTEM_MESSAGE, prompt, version)
    assert prompt_ids(tekken_tokenizer(), prompt) == expected


def test_a_files_embedded_tekken_data_with_its_own_special_tokens(tmp_path):
    data = json.loads(TEKKEN_FILE.read_text(encoding="utf-8"))
    names = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[MY_TOKEN]"]
    data["special_tokens"] = [{"rank": i, "token_str": n, "is_control": True} for i, n in enumerate(names)]
    data["config"]["default_num_special_tokens"] = 1000
    tok = tekken_tokenizer(json.dumps(data).encode())
    assert tok.SPECIAL["[MY_TOKEN]"] == 5 and tok.special_tokens[6] == "<SPECIAL_6>"
    assert tok.encode("Hello, world!") == [22177, 1044, 4304, 1033]


def test_shipped_vocabulary_is_tekken_with_131072_ids():
    data = json.loads(TEKKEN_FILE.read_text(encoding="utf-8"))
    config = data["config"]
    assert (config["default_vocab_size"], config["default_num_special_tokens"]) == (131072, 1000)
    ranks = [e["rank"] for e in data["vocab"][:130072]]
    assert ranks == list(range(130072))
    assert base64.b64decode(data["vocab"][0]["token_bytes"]) == b"\x00"
