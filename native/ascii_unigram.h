// SentencePiece's unigram encoding of printable-ASCII lines, for filters._kenlm_lines.
//
// SentencePiece's Python call spends most of the perplexity stage: its normaliser, its Viterbi
// and then a Python bytes object per piece that KenLM's scorer reads back. After CCNet's
// normalisation ~94% of an English page's characters are on lines of printable ASCII (0x20 to
// 0x7E), where SentencePiece's work is simple enough to reproduce exactly:
//
// - Normalisation (normalizer.cc, for a model whose character map has no rule for a printable
//   ASCII character, with the default add_dummy_prefix, remove_extra_whitespaces and
//   escape_whitespaces): leading and trailing spaces dropped, runs of spaces made one, each space
//   escaped as U+2581 and one more U+2581 put in front. Here the escaped space is kept as the
//   byte 0x20, so a normalised line is a string over 95 one-byte symbols; a piece of the model
//   can match such a line only if it is made of those characters (U+2581 read as 0x20).
// - Encoding (unigram_model.cc, Model::EncodeOptimized of 0.2.x): for each start position in
//   order, every piece in the trie (NORMAL and UNUSED pieces, UNUSED ones skipped) that starts
//   there offers score + best score so far to the position it ends at, taken only if strictly
//   greater (or the first); a character no one-character piece covers offers min(NORMAL score)
//   - 10 as the unknown piece. Scores are C floats, summed in that order, and rebased when the
//   running score leaves +-1e5, as SentencePiece does, so the same ties fall the same way.
// - Output (sentencepiece_processor.cc, EncodeOptimized): the best path's pieces, with runs of
//   unknown pieces merged into one.
//
// The model's eligibility (unigram, no user-defined pieces, no byte fallback, the normaliser's
// flags and character map) is decided in Python (core/spm_proto.py); this file trusts it.

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ascii_unigram {

// Symbols 1..95 are the bytes 0x20..0x7E (0x20 standing for U+2581); 0 is no symbol.
constexpr int kAlphabet = 96;
inline int Symbol(unsigned char c) { return c >= 0x20 && c <= 0x7E ? c - 0x1F : 0; }

constexpr float kUnkPenalty = 10.0f;
constexpr float kScoreResetThreshold = 100000.0f;
const std::string_view kSpaceSymbol = "\xe2\x96\x81";

// A piece of the best path: the normalised line's [begin, end), the piece's id.
struct Token {
  int id;
  uint32_t begin;
  uint32_t end;
};

class Encoder {
 public:
  // `text` is the piece's UTF-8 text, `type` its ModelProto.SentencePiece.Type (1 NORMAL,
  // 2 UNKNOWN, 3 CONTROL, 5 UNUSED, 6 BYTE; 4 USER_DEFINED is not eligible). Returns false for
  // a type this encoder cannot stand in for.
  bool Add(int id, std::string_view text, float score, int type) {
    if (type == 1) min_score_ = std::min(min_score_, score);
    if (type != 1 && type != 5) return type == 2 || type == 3 || type == 6;
    std::string symbols;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
        symbols += '\x20';
        i += kSpaceSymbol.size() - 1;
      } else if (text[i] == '\x20' || !Symbol(static_cast<unsigned char>(text[i]))) {
        return true;  // it cannot match a printable-ASCII line
      } else {
        symbols += text[i];
      }
    }
    Insert(symbols, id, score, type == 5);
    return true;
  }

  void SetUnknown(int id) { unk_id_ = id; }
  int unknown() const { return unk_id_; }

  // Lays the trie out as a double array (after the last Add): a node's child for symbol c is
  // units_[base + c] if that unit's check is the node. Bases are found first-fit along a list
  // of the free units.
  void Build() {
    if (nodes_.empty()) nodes_.emplace_back();
    units_.assign(1, Unit{});
    taken_.assign(1, true);  // the root
    next_free_.assign(1, 0);  // an empty circular list, headed by the root's unit
    prev_free_.assign(1, 0);
    std::vector<std::pair<int, int>> queue = {{0, 0}};  // (build node, unit)
    for (size_t q = 0; q < queue.size(); ++q) {
      const auto [node, index] = queue[q];
      const BuildNode &build = nodes_[static_cast<size_t>(node)];
      units_[static_cast<size_t>(index)].id = build.id;
      units_[static_cast<size_t>(index)].score = build.score;
      if (build.children.empty()) continue;
      const int first = build.children.front().first;
      int base = 0;
      for (size_t slot = NextFree(0);; slot = NextFree(slot)) {
        if (slot == 0) {  // past the last free unit: add one
          slot = units_.size();
          Reserve(slot + 1);
        }
        base = static_cast<int>(slot) - first;
        if (base < 1) continue;
        bool fits = true;
        for (const auto &[label, child] : build.children) {
          if (!IsFree(static_cast<size_t>(base + label))) {
            fits = false;
            break;
          }
        }
        if (fits) break;
      }
      units_[static_cast<size_t>(index)].base = base;
      for (const auto &[label, child] : build.children) {
        const size_t slot = static_cast<size_t>(base + label);
        Take(slot);
        units_[slot].check = index;
        queue.emplace_back(child, static_cast<int>(slot));
      }
    }
    // Room for any symbol after the last base, so a lookup needs no bounds check.
    Reserve(units_.size() + kAlphabet);
    nodes_.clear();
    nodes_.shrink_to_fit();
    next_free_.clear();
    next_free_.shrink_to_fit();
    prev_free_.clear();
    prev_free_.shrink_to_fit();
  }

  // The pieces of `line` (printable ASCII) into `tokens`; `work` is scratch reused across calls.
  // `normalized` gets the normalised line (0x20 for U+2581) that the tokens' spans index.
  void Encode(std::string_view line, std::string &normalized, std::vector<Token> &tokens,
              std::vector<float> &scores, std::vector<int> &starts, std::vector<int> &ids) const {
    Normalize(line, normalized);
    tokens.clear();
    const size_t size = normalized.size();
    if (size == 0) return;
    scores.assign(size + 1, 0.0f);
    starts.assign(size + 1, -1);
    ids.assign(size + 1, -1);
    const float unk_score = min_score_ - kUnkPenalty;
    const unsigned char *text = reinterpret_cast<const unsigned char *>(normalized.data());
    size_t max_frontier = 0;
    for (size_t start = 0; start < size; ++start) {
      float till_here = scores[start];
      if (till_here < -kScoreResetThreshold || till_here > kScoreResetThreshold) {
        const float offset = till_here;
        for (size_t i = start; i <= max_frontier; ++i) {
          if (i == start || starts[i] != -1) scores[i] -= offset;
        }
        till_here = 0.0f;
      }
      bool has_single = false;
      int node = 0;
      for (size_t pos = start; pos < size; ++pos) {
        const int next = units_[static_cast<size_t>(node)].base + Symbol(text[pos]);
        const Unit &unit = units_[static_cast<size_t>(next)];
        if (unit.check != node) break;
        node = next;
        if (unit.id < 0) continue;  // no piece ends here, or an UNUSED one (skipped)
        const int id = unit.id;
        const size_t end = pos + 1;
        max_frontier = std::max(max_frontier, end);
        const float candidate = unit.score + till_here;
        if (starts[end] == -1 || candidate > scores[end]) {
          scores[end] = candidate;
          starts[end] = static_cast<int>(start);
          ids[end] = id;
        }
        has_single = has_single || end == start + 1;
      }
      if (!has_single) {
        const size_t end = start + 1;
        max_frontier = std::max(max_frontier, end);
        const float candidate = unk_score + till_here;
        if (starts[end] == -1 || candidate > scores[end]) {
          scores[end] = candidate;
          starts[end] = static_cast<int>(start);
          ids[end] = unk_id_;
        }
      }
    }
    for (size_t end = size; end > 0;) {
      const size_t start = static_cast<size_t>(starts[end]);
      tokens.push_back({ids[end], static_cast<uint32_t>(start), static_cast<uint32_t>(end)});
      end = start;
    }
    std::reverse(tokens.begin(), tokens.end());
    // Runs of unknown pieces become one piece (SentencePieceProcessor::EncodeOptimized).
    size_t out = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (out > 0 && tokens[i].id == unk_id_ && tokens[out - 1].id == unk_id_) {
        tokens[out - 1].end = tokens[i].end;
      } else {
        tokens[out++] = tokens[i];
      }
    }
    tokens.resize(out);
  }

  // A token's text as SentencePiece gives it (0x20 back to U+2581).
  static std::string Surface(std::string_view normalized, const Token &token) {
    std::string text;
    for (uint32_t i = token.begin; i < token.end; ++i) {
      if (normalized[i] == '\x20') {
        text += kSpaceSymbol;
      } else {
        text += normalized[i];
      }
    }
    return text;
  }

  // Whether every byte of the line is printable ASCII, the lines Encode takes.
  static bool Takes(std::string_view line) {
    for (const char c : line) {
      if (!Symbol(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }

 private:
  struct BuildNode {
    std::vector<std::pair<int, int>> children;  // (symbol, node), sorted by symbol
    int id = -1;  // the piece ending here, -1 for none or an UNUSED piece (only walked through)
    float score = 0.0f;
  };
  struct Unit {
    int base = 0;
    int check = -1;  // the parent unit; -1 when free
    int id = -1;     // the piece ending here, -1 for none or an UNUSED piece
    float score = 0.0f;
  };

  void Insert(const std::string &symbols, int id, float score, bool unused) {
    if (nodes_.empty()) nodes_.emplace_back();
    int node = 0;
    for (const char c : symbols) {
      const int label = Symbol(static_cast<unsigned char>(c));
      auto &children = nodes_[static_cast<size_t>(node)].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(label, -1));
      if (it != children.end() && it->first == label) {
        node = it->second;
      } else {
        const int child = static_cast<int>(nodes_.size());
        children.insert(it, {label, child});
        nodes_.emplace_back();
        node = child;
      }
    }
    nodes_[static_cast<size_t>(node)].id = unused ? -1 : id;
    nodes_[static_cast<size_t>(node)].score = score;
  }

  // The free units form a doubly linked list through next_free_/prev_free_; unit 0 (the root)
  // is its head, and Reserve appends the units it adds.
  bool IsFree(size_t slot) {
    Reserve(slot + 1);
    return !taken_[slot];
  }
  size_t NextFree(size_t slot) const { return static_cast<size_t>(next_free_[slot]); }
  void Take(size_t slot) {
    taken_[slot] = true;
    const int prev = prev_free_[slot], next = next_free_[slot];
    next_free_[static_cast<size_t>(prev)] = next;
    prev_free_[static_cast<size_t>(next)] = prev;
  }
  void Reserve(size_t size) {
    const size_t old = units_.size();
    if (size <= old) return;
    units_.resize(size, Unit{});
    taken_.resize(size, false);
    if (next_free_.empty()) return;  // built: no list to keep
    next_free_.resize(size);
    prev_free_.resize(size);
    // The list's tail is the last old unit if free, else the free unit before it; new units
    // are appended after it in order.
    int tail = prev_free_[0];
    for (size_t i = old; i < size; ++i) {
      next_free_[static_cast<size_t>(tail)] = static_cast<int>(i);
      prev_free_[i] = tail;
      tail = static_cast<int>(i);
    }
    next_free_[static_cast<size_t>(tail)] = 0;
    prev_free_[0] = tail;
  }

  // normalizer.cc's Normalize for a printable-ASCII line and a character map with no rule for
  // those characters.
  static void Normalize(std::string_view line, std::string &normalized) {
    normalized.clear();
    bool previous_space = true;
    for (const char c : line) {
      if (c == '\x20') {
        if (!previous_space) normalized += '\x20';
        previous_space = true;
      } else {
        if (normalized.empty()) normalized += '\x20';  // the dummy prefix
        normalized += c;
        previous_space = false;
      }
    }
    while (!normalized.empty() && normalized.back() == '\x20') normalized.pop_back();
  }

  std::vector<BuildNode> nodes_;
  std::vector<Unit> units_;
  std::vector<bool> taken_;
  std::vector<int> next_free_, prev_free_;  // while building
  float min_score_ = 3.402823466e+38f;  // FLT_MAX, as unigram_model.cc starts it
  int unk_id_ = -1;
};

}  // namespace ascii_unigram
