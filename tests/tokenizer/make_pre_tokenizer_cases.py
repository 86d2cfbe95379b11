#!/usr/bin/env python3
"""Writes pre_tokenizer_cases.json: how Hugging Face tokenizers splits test strings with the
pre-tokenizer regexes of each `tokenizer.ggml.pre` name sluice supports.

The reference is tokenizers' own Split(behavior="isolated") with the Oniguruma regex engine,
independent of sluice's PCRE2 code. The patterns are those of each family's tokenizer.json, as
llama.cpp's src/llama-vocab.cpp records them per `tokenizer.ggml.pre` name (see
src/tokenizer/pre_tokenizer.cpp for the sources):
- "gpt-2" is also checked against tokenizers' ByteLevel(use_regex=True), which has the GPT-2
  pattern built in;
- "default" is llama.cpp's four-stage default sequence;
- "kimi-k2" is Kimi K2's tokenization_kimi.py pattern, written here as it is there, with the
  character-class intersections `[...&&[^\p{Han}]]` that Oniguruma supports (sluice rewrites
  them as lookaheads for PCRE2).
The texts are tricky strings, the strings of ../shared/fixtures/tokenizer/reference_encodings.json
and seeded random strings.

    pip install tokenizers && python3 tests/tokenizer/make_pre_tokenizer_cases.py
"""
import json
import os
import random

import tokenizers
from tokenizers import Regex, decoders, pre_tokenizers

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN35 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
GPT4O = r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
DEEPSEEK_V3 = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
]
KIMI_K2 = r"""[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMACPP_DEFAULT = [
    r"[\p{P}\$\+<=>\^~\|]+",
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)""",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
]
PATTERNS = {"default": LLAMACPP_DEFAULT, "gpt-2": [GPT2], "qwen2": [QWEN2], "qwen35": [QWEN35],
            "llama-bpe": [LLAMA3], "glm4": [LLAMA3], "gpt-4o": [GPT4O], "minimax-m2": [GPT4O],
            "deepseek-v3": DEEPSEEK_V3, "kimi-k2": [KIMI_K2]}

CRAFTED = [
    "Hello world", "a   b", "a \n b", "x  \n\n  y", "  ", "\n", "\r\n\r\n", " \t \n", "tail   ",
    "don't you'll I'M WE'VE THEY'RE", "'s'S'\u017f'\u212a", "1234567 3.14159", "\u0663\u0664\u0665\u0666",
    "camelCaseWord HTTPServer XMLHttpRequest", "e\u0301te\u0301 cafe\u0301", "\u0915\u093f\u0924\u093e\u092c",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\ud55c\uad6d\uc5b4",
    "emoji: \U0001f600\U0001f680\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469", "a\u00a0b\u3000c\u2028d\u0085e",
    "\u180e\u200b\ufeff", "path/to/file.py:12\n", "x**2  # square", "https://example.com/a?b=1&c=2",
    # Han next to other letters, kana and Han-script symbols (kimi-k2 splits Han off).
    "getUserName iPhone helloWorld", "\u4e2d\u6587English\u6df7\u5408", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8abc",
    "\u3005\u3007\u2e80\uf900\U00020000\u4e00x", "I'm\u4e2d'S \u4e2d's",
    # Punctuation and symbol runs, digit runs (llama.cpp's default stages).
    "a$+<=>^~|b ...!!?? \u00ab\u00bb\u2014", "12345678901 1,234.5 \u0663\u0664\u0665\u0666\u0667", "x=1;y+=2||z^3",
]
POOL = (list("abcXYZ sS tTreRvVmMlLdD'\u2019") + list("0123456789") + [" "] * 8 +
        ["\t", "\r", "\n", "\r\n", "  ", "   "] + list(".,;:!?/\\\"#$%&()*+-<=>@[]^_`{|}~") +
        ["\u00e9", "e\u0301", "\u01c5", "\u02b0", "\u017f", "\u212a", "\u00df", "\u03a9", "\u0436",
         "\u4e2d", "\u65e5\u672c", "\u306e", "\u30c6", "\ud55c", "\U0001f600", "\U0001f44d\U0001f3fd",
         "\u200d", "\u00a0", "\u0085", "\u2028", "\u180e", "\u3000", "\u200b", "\ufeff", "\u0663",
         "\u00b2", "\u216b", "\uff21", "\u0e01", "\u0e34", "\u0915", "\u093f", "\u0301", "\u20ac"])


def split(pre_tokenizer, text):
    return [piece for piece, _ in pre_tokenizer.pre_tokenize_str(text)]


def reference_texts():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                        "fixtures", "tokenizer", "reference_encodings.json")
    with open(path, encoding="utf-8") as f:
        reference = json.load(f)
    return [e["text"] for e in reference["encodings"]] + [reference["chat_example"]]


def main():
    rng = random.Random(20240601)
    texts = CRAFTED + reference_texts() + ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 40)))
                                           for _ in range(100)]
    splitters = {name: pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns])
        for name, patterns in PATTERNS.items()}

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    unmap = decoders.ByteLevel()
    for text in texts:
        built_in = [unmap.decode([w]) for w in split(byte_level, text)]
        assert built_in == split(splitters["gpt-2"], text), text

    cases = {"generator": f"tokenizers {tokenizers.__version__}", "texts": texts,
             "pieces": {name: [split(s, t) for t in texts] for name, s in splitters.items()}}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pre_tokenizer_cases.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
