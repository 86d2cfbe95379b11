// Pre-tokenizer regex table and the PCRE2 splitting loop.
//
// The regexes are the ones in each model family's Hugging Face tokenizer.json (`pre_tokenizer`
// Split patterns), as llama.cpp's src/llama-vocab.cpp (llm_tokenizer_bpe, "original regex from
// tokenizer.json") also records them per `tokenizer.ggml.pre` name. llama.cpp rewrites some of
// them (e.g. `(?i:'s|...)` as `'[sS]|...`, character-class lookaheads for GPT-4o) because
// std::regex lacks those features; PCRE2 has them, so the originals are used unchanged.
//
// `\s+(?!\S)` is a plain backtracking lookahead in PCRE2 as in Oniguruma, which Hugging Face
// tokenizers uses: in "a   b" it matches the first two spaces and leaves " b" for the next
// alternative, exactly as there (llama.cpp needs a hand-written matcher for it instead). What
// differs is `\s` itself: PCRE2 10.42 counts U+180E MONGOLIAN VOWEL SEPARATOR as a space,
// which Unicode dropped from White_Space in 6.3 and Oniguruma does not, so `\s`/`\S` are
// rewritten to the White_Space set before compiling. Checked by comparing splits with
// tokenizers 0.23 on random strings over many scripts and every code point class; the one
// difference left is the Unicode version (PCRE2 10.42 has Unicode 15.0, so letters added in
// 15.1/16.0 are not \p{L} here).
#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sluice::tokenizer {
namespace {

// llama.cpp's "default" (a GGUF without `tokenizer.ggml.pre`, or one naming it "default"): four
// stages, as llama.cpp's src/llama-vocab.cpp (llm_tokenizer_bpe, default case) applies them.
constexpr std::string_view kDefaultPunctuation = R"re([\p{P}\$\+<=>\^~\|]+)re";
constexpr std::string_view kDefaultWords =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
constexpr std::string_view kDefaultNumbers = R"re(\p{N}+)re";
constexpr std::string_view kDefaultDigitTriples = R"re([0-9][0-9][0-9])re";

// GPT-2: OpenAI gpt-2 encoder.py; Hugging Face tokenizers ByteLevel pre-tokenizer (use_regex).
constexpr std::string_view kGpt2Regex =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Qwen2 / Qwen2.5 / Qwen3 tokenizer.json.
constexpr std::string_view kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Qwen3.5 tokenizer.json: as Qwen2, with combining marks (\p{M}) kept inside words.
constexpr std::string_view kQwen35Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Llama 3 tokenizer.json: as Qwen2, but digits in groups of up to three.
constexpr std::string_view kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// GPT-4o (o200k_base) tokenizer.json, also used by Llama 4, gpt-oss and MiniMax-M2.
constexpr std::string_view kGpt4oRegex =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Kimi K2 (tokenization_kimi.py `pat_str`, quoted in llama.cpp's src/unicode.cpp above
// unicode_regex_split_custom_kimi_k2): the GPT-4o pattern with Han ideographs split off as
// words of their own. Its character-class intersections `[...&&[^\p{Han}]]` (which PCRE2
// 10.42 lacks) are written as `(?:(?!\p{Han})[...])`, the same set. `\p{sc:Han}` is the Han
// Script property, as Oniguruma's (and so Hugging Face tokenizers') `\p{Han}` is: PCRE2's bare
// `\p{Han}` means Script_Extensions, which also takes in CJK punctuation such as U+3002.
constexpr std::string_view kKimiK2Regex =
    R"re([\p{sc:Han}]+|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc:Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*(?:(?!\p{sc:Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?(?:(?!\p{sc:Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+(?:(?!\p{sc:Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek-V3 tokenizer.json: three Split stages (digit groups; CJK ideographs and kana, written
// here as code point ranges U+4E00-U+9FA5, U+3040-U+309F, U+30A0-U+30FF; then words).
constexpr std::string_view kDeepseekV3Digits = R"re(\p{N}{1,3})re";
constexpr std::string_view kDeepseekV3Cjk =
    R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
constexpr std::string_view kDeepseekV3Words =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

struct MatchDataFree {
  void operator()(pcre2_match_data* match_data) const { pcre2_match_data_free(match_data); }
};

struct PreTokenizerDef {
  std::vector<std::string_view> names;  // `tokenizer.ggml.pre` values
  std::vector<std::string_view> regexes;
  bool ignore_merges;
};

// Names grouped as llama.cpp's llama_vocab::impl::load groups them; "glm4" is its CHATGLM4
// (the Llama 3 regex without ignore_merges), "minimax-m2" uses the GPT-4o regex there too.
const std::array<PreTokenizerDef, 9>& definitions() {
  static const std::array<PreTokenizerDef, 9> table = {{
      {{"default"}, {kDefaultPunctuation, kDefaultWords, kDefaultNumbers, kDefaultDigitTriples}, false},
      {{"gpt-2", "olmo", "mpt", "phi-2"}, {kGpt2Regex}, false},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "grok-2"},
       {kQwen2Regex},
       false},
      {{"qwen35"}, {kQwen35Regex}, false},
      {{"llama-bpe", "llama3", "llama-v3", "falcon3"}, {kLlama3Regex}, true},
      {{"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"}, {kLlama3Regex}, false},
      {{"gpt-4o", "llama4", "minimax-m2"}, {kGpt4oRegex}, false},
      {{"deepseek-v3"}, {kDeepseekV3Digits, kDeepseekV3Cjk, kDeepseekV3Words}, false},
      {{"kimi-k2"}, {kKimiK2Regex}, false},
  }};
  return table;
}

// Unicode White_Space: \p{Z} plus U+0009..U+000D and U+0085 (Oniguruma's `\s`).
constexpr std::string_view kWhiteSpaceItems = R"re(\t\n\x0B\f\r\x{85}\p{Z})re";

// Replaces `\s` and `\S` in `pattern` by explicit White_Space classes (see the file comment).
std::string with_white_space_classes(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() * 2);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[++i];
      if (escaped == 's' && in_class) {
        out += kWhiteSpaceItems;
      } else if ((escaped == 's' || escaped == 'S') && !in_class) {
        out += escaped == 's' ? "[" : "[^";
        out += kWhiteSpaceItems;
        out += ']';
      } else {
        SLUICE_ASSERT(escaped != 'S');  // a negated class inside a class has no rewrite
        out += c;
        out += escaped;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // literal ']'
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
}

}  // namespace

struct PreTokenizer::CompiledRegex {
  pcre2_code* code = nullptr;

  explicit CompiledRegex(std::string_view original) {
    const std::string pattern = with_white_space_classes(original);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // MATCH_INVALID_UTF: bytes that are not valid UTF-8 match nothing instead of failing the
    // whole match, so arbitrary input can be tokenized byte for byte.
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                         &error_offset, nullptr);
    if (code == nullptr) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error_code, message.data(), message.size());
      throw TokenizerError("pre-tokenizer regex does not compile at offset " +
                           std::to_string(error_offset) + ": " +
                           reinterpret_cast<const char*>(message.data()));
    }
    // Without JIT support PCRE2 falls back to its interpreter, with the same results.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~CompiledRegex() { pcre2_code_free(code); }
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;

  // Appends the matches of this regex in `text` and the gaps between them, as spans offset
  // by `base`.
  void split(std::string_view text, size_t base, pcre2_match_data* match_data,
             std::vector<TextSpan>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;
    size_t gap_start = 0;
    while (start < text.size()) {
      int rc = pcre2_match(code, subject, text.size(), start, 0, match_data, nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_JIT, match_data, nullptr);
      }
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        std::array<PCRE2_UCHAR, 256> message{};
        pcre2_get_error_message(rc, message.data(), message.size());
        throw TokenizerError("pre-tokenizer regex failed at byte " + std::to_string(base + start) +
                             ": " + reinterpret_cast<const char*>(message.data()));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
      const size_t match_begin = ovector[0];
      const size_t match_end = ovector[1];
      if (match_end == match_begin) {  // empty match: yields no piece, move on one character
        const size_t len = utf8_sequence_length(text.substr(match_begin));
        start = match_begin + (len == 0 ? 1 : len);
        continue;
      }
      if (match_begin > gap_start) out.push_back({base + gap_start, match_begin - gap_start});
      out.push_back({base + match_begin, match_end - match_begin});
      gap_start = start = match_end;
    }
    if (gap_start < text.size()) out.push_back({base + gap_start, text.size() - gap_start});
  }
};

PreTokenizer::PreTokenizer(std::string_view pre) {
  for (const PreTokenizerDef& def : definitions()) {
    for (std::string_view name : def.names) {
      if (name != pre) continue;
      for (std::string_view regex : def.regexes) {
        stages_.push_back(std::make_unique<CompiledRegex>(regex));
      }
      ignore_merges_ = def.ignore_merges;
      return;
    }
  }
  throw TokenizerError("unknown pre-tokenizer '" + std::string(pre) +
                       "' (tokenizer.ggml.pre); known: " + known_names());
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

std::string PreTokenizer::known_names() {
  std::string names;
  for (const PreTokenizerDef& def : definitions()) {
    for (std::string_view name : def.names) {
      if (!names.empty()) names += ", ";
      names += name;
    }
  }
  return names;
}

void PreTokenizer::split(std::string_view text, std::vector<TextSpan>& words,
                         std::vector<TextSpan>& scratch) const {
  words.clear();
  if (text.empty()) return;
  // One pair of offsets is all we read; a match with more groups still fills pair 0.
  const std::unique_ptr<pcre2_match_data, MatchDataFree> match_data(
      pcre2_match_data_create(1, nullptr));
  if (!match_data) throw TokenizerError("out of memory for PCRE2 match data");
  words.push_back({0, text.size()});
  for (const auto& stage : stages_) {
    scratch.swap(words);
    words.clear();
    for (const TextSpan& piece : scratch) {
      stage->split(text.substr(piece.offset, piece.length), piece.offset, match_data.get(), words);
    }
  }
}

}  // namespace sluice::tokenizer
