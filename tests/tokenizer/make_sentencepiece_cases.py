#!/usr/bin/env python3
"""Writes the SentencePiece test data in sentencepiece/: two tiny SentencePiece BPE models
trained with the `sentencepiece` package, stored as GGUF tokenizer metadata the way llama.cpp's
convert_hf_to_gguf.py stores a llama-family tokenizer.model, and the ids the `sentencepiece`
package gives for test strings (spm_cases.json).

Both models are trained like Llama's tokenizer.model: BPE, byte fallback (<0x00>..<0xFF>),
digits split, whitespace-only pieces allowed, identity normalization, no whitespace
collapsing; `spm-bpe.gguf` adds the dummy prefix (the leading "▁"), `spm-bpe-no-prefix.gguf`
does not. The GGUFs hold no tensors: only what `_create_vocab_sentencepiece` and
`_set_vocab_sentencepiece` write (tokenizer.ggml.model "llama", pre "default", tokens, scores,
token types; bos/eos/unk ids and add_bos_token/add_eos_token as gguf.SpecialVocab writes them
from a Llama tokenizer_config.json), plus tokenizer.ggml.add_space_prefix from the model's
add_dummy_prefix.

    pip install sentencepiece gguf && python3 tests/tokenizer/make_sentencepiece_cases.py
"""
import importlib.metadata
import io
import json
import os
import random

import gguf
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sentencepiece")
FIXTURES = os.path.join(HERE, "..", "..", "..", "shared", "fixtures")

# Lines that give the models some non-ASCII pieces next to the Python source of eval.txt.
EXTRA_LINES = [
    "Le café est très bon, naïve résumé à la crème brûlée.",
    "Über die Brücke gehen wir schön langsam.",
    "Привет, как дела? Всё хорошо.",
    "你好，世界。你好，朋友。世界很大。",
    "El niño come una manzana y una piña.",
] * 20

CRAFTED = [
    "Hello world", "hello world", " leading space", "  two leading spaces", "tail   ", "a    b",
    "\tx\ty", "line1\nline2\r\nline3", "1234567 3.14159", "def f(x):\n    return x**2  # square",
    "café naïve résumé", "你好，世界", "日本語のテキスト", "emoji: 😀🚀👍🏽", "a\u200db", "\x01\x7f",
    "", " ", "  ", "\n", "▁", "a▁b ▁", "<s> is not special here </s>", "Привет, мир!",
    "import os\nimport sys\n\nclass Foo(object):\n    pass\n",
]
POOL = (list("abcdefXYZ ") + [" "] * 6 + ["  ", "\t", "\n", "0", "7", "é", "ü", "ж", "中", "界",
        "😀", "\u0301", "ß", "(", ")", ":", "_", "#", "'", '"', "▁", "def ", "self", "return"])


def train(add_dummy_prefix):
    corpus = open(os.path.join(FIXTURES, "trained", "eval.txt"), encoding="utf-8").read().splitlines()
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus + EXTRA_LINES), model_writer=model, model_type="bpe",
        vocab_size=700, character_coverage=0.9995, byte_fallback=True, split_digits=True,
        allow_whitespace_only_pieces=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=add_dummy_prefix, num_threads=1,
        max_sentence_length=1 << 16, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def write_gguf(sp, path, add_dummy_prefix):
    # convert_hf_to_gguf.py, TextModel._create_vocab_sentencepiece
    tokens, scores, toktypes = [], [], []
    for token_id in range(sp.vocab_size()):
        toktype = gguf.TokenType.NORMAL
        if sp.IsUnknown(token_id):
            toktype = gguf.TokenType.UNKNOWN
        elif sp.IsControl(token_id):
            toktype = gguf.TokenType.CONTROL
        elif sp.IsUnused(token_id):
            toktype = gguf.TokenType.UNUSED
        elif sp.IsByte(token_id):
            toktype = gguf.TokenType.BYTE
        tokens.append(sp.IdToPiece(token_id).encode("utf-8"))
        scores.append(sp.GetScore(token_id))
        toktypes.append(toktype)
    writer = gguf.GGUFWriter(path, "llama")
    # TextModel._set_vocab_sentencepiece
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(toktypes)
    # gguf.SpecialVocab.add_to_gguf for a Llama tokenizer_config.json
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(add_dummy_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(FIXTURES, "tokenizer", "reference_encodings.json"), encoding="utf-8") as f:
        reference = json.load(f)
    rng = random.Random(7)
    texts = (CRAFTED + [e["text"] for e in reference["encodings"]] +
             ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 30))) for _ in range(60)])
    eval_text = open(os.path.join(FIXTURES, "trained", "eval.txt"), encoding="utf-8").read()
    texts.append(eval_text[:2000])

    versions = f"sentencepiece {spm.__version__}, gguf {importlib.metadata.version('gguf')}"
    cases = {"generator": versions, "models": {}}
    for name, add_dummy_prefix in (("spm-bpe.gguf", True), ("spm-bpe-no-prefix.gguf", False)):
        sp = train(add_dummy_prefix)
        write_gguf(sp, os.path.join(OUT, name), add_dummy_prefix)
        cases["models"][name] = {
            "add_dummy_prefix": add_dummy_prefix, "bos_id": sp.bos_id(), "eos_id": sp.eos_id(),
            "cases": [{"text": t, "ids": sp.encode(t, out_type=int),
                       "decoded": sp.decode(sp.encode(t, out_type=int))} for t in texts],
        }
    with open(os.path.join(OUT, "spm_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
