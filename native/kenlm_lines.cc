// filters._kenlm_lines: KenLM log10 probabilities of SentencePiece-encoded lines, one call per
// batch of texts.
//
// Scoring a line through the `kenlm` module costs a bytes.join and a Python call per line; here a
// batch of SentencePiece's output (a list of lists of bytes) is scored in one call. The
// arithmetic is exactly that of kenlm.Model.score(b" ".join(pieces), bos=True, eos=True), which
// is KenLM's python/score_sentence.cc: the line is read as a C string (up to its first NUL), its
// words are the runs between util::kSpaces (the six ASCII whitespace bytes; b" ".join then
// splitting gives the same words as splitting each piece), and the BaseScore of each word and of
// </s> after <s> is summed into a C float, returned as the double that float converts to.
//
// The word indices are looked up while the GIL is held (they are read from the Python bytes);
// the n-gram queries, most of the work, run with the GIL released on copied indices, so threads
// of one process (Beam's direct runner) score in parallel. KenLM's model is read-only after
// loading and its queries are thread-safe.
//
// AsciiScorer (below) goes one step further for printable-ASCII lines: it encodes them as
// SentencePiece would (native/ascii_unigram.h) and scores the pieces in the same call, so no
// Python object is made per piece.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "ascii_unigram.h"
#include "lm/binary_format.hh"
#include "lm/model.hh"
#include "lm/virtual_interface.hh"

namespace {

// KenLM's binary format 5 (lm/binary_format.cc): a 88-byte sanity block that starts with this
// magic, then lm::ngram::FixedWidthParameters, then one uint64 n-gram count per order.
const char kBinaryMagic[] = "mmap lm http://kheafield.com/code format version 5\n";
constexpr size_t kSanitySize = 88;
constexpr size_t kCountsOffset = kSanitySize + sizeof(lm::ngram::FixedWidthParameters);
static_assert(offsetof(lm::ngram::FixedWidthParameters, probing_multiplier) == 4, "format 5");
static_assert(offsetof(lm::ngram::FixedWidthParameters, has_vocabulary) == 12, "format 5");
static_assert(sizeof(lm::ngram::FixedWidthParameters) == 20, "format 5");
// build_binary's -p defaults to 1.5; far above that only overflows the table size arithmetic.
constexpr float kMaxProbingMultiplier = 256.0f;

// KenLM trusts the fields of a binary header that its size arithmetic uses: a NaN or infinite
// probing multiplier (a float-to-integer conversion out of range, then a division by zero), a
// bool that is neither 0 nor 1, counts that overflow. Checks them before KenLM reads the file;
// "" when they are sane or the file is not a format 5 binary (KenLM then rejects it or parses
// it as ARPA, with exceptions for every error).
std::string CheckBinaryHeader(const char *file) {
  const int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";  // KenLM reports why
  unsigned char header[kCountsOffset + sizeof(uint64_t) * KENLM_MAX_ORDER];
  struct stat st;
  ssize_t got = 0;
  if (fstat(fd, &st) == 0) {
    while (got < static_cast<ssize_t>(sizeof(header))) {
      const ssize_t n = pread(fd, header + got, sizeof(header) - static_cast<size_t>(got), got);
      if (n <= 0) break;
      got += n;
    }
  }
  close(fd);
  const size_t size = static_cast<size_t>(got);
  if (size < sizeof(kBinaryMagic) || std::memcmp(header, kBinaryMagic, sizeof(kBinaryMagic))) {
    return "";
  }
  if (size < kCountsOffset) return "binary header is truncated";
  const unsigned char order = header[kSanitySize];
  if (order == 0 || order > KENLM_MAX_ORDER) {
    return "binary header has order " + std::to_string(order) + ", not 1 to " +
           std::to_string(KENLM_MAX_ORDER);
  }
  float multiplier;
  std::memcpy(&multiplier, header + kSanitySize + 4, sizeof(multiplier));
  if (!std::isfinite(multiplier) || multiplier < 1.0f || multiplier > kMaxProbingMultiplier) {
    return "binary header has an invalid probing multiplier";
  }
  if (header[kSanitySize + 12] > 1) return "binary header has an invalid vocabulary flag";
  if (size < kCountsOffset + sizeof(uint64_t) * order) return "binary header is truncated";
  // An n-gram takes at least a bit of the file (a byte in the probing tables).
  const uint64_t max_count = static_cast<uint64_t>(st.st_size) * 8;
  for (unsigned char i = 0; i < order; ++i) {
    uint64_t count;
    std::memcpy(&count, header + kCountsOffset + sizeof(uint64_t) * i, sizeof(count));
    if (count > max_count || (i == 0 && count > UINT32_MAX)) {
      return "binary header has " + std::to_string(count) + " " + std::to_string(i + 1) +
             "-grams, more than the file can hold";
    }
  }
  return "";
}

// KenLM's messages span lines; one line reads better in a Python traceback.
std::string OneLine(std::string text) {
  for (char &c : text) {
    if (c == '\n') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

struct ModelObject {
  PyObject_HEAD
  lm::base::Model *model;
  // The same model when it is KenLM's default binary type: its queries are then called directly
  // instead of through a virtual call per word (the same functions, so the same results).
  const lm::ngram::ProbingModel *probing;
};

// util::kSpaces, the separators of KenLM's tokenizer: ' ', '\t', '\n', '\v', '\f', '\r'.
inline bool IsSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int ModelInit(ModelObject *self, PyObject *args, PyObject *kwargs) {
  static const char *keywords[] = {"path", nullptr};
  PyObject *path = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&:Model", const_cast<char **>(keywords),
                                   PyUnicode_FSConverter, &path)) {
    return -1;
  }
  const char *file = PyBytes_AS_STRING(path);  // PyUnicode_FSConverter refuses a NUL in it
  if (self->model != nullptr) {  // another thread may be scoring with it, the GIL released
    PyErr_SetString(PyExc_RuntimeError, "Model is already loaded");
    Py_DECREF(path);
    return -1;
  }
  lm::base::Model *model = nullptr;
  std::string error;
  Py_BEGIN_ALLOW_THREADS
  try {
    error = CheckBinaryHeader(file);
    lm::ngram::Config config;
    config.messages = nullptr;  // no progress bar or ARPA notice on stderr
    if (error.empty()) model = lm::ngram::LoadVirtual(file, config);
  } catch (const std::exception &e) {
    try {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
  } catch (...) {
    error = "unknown error";
  }
  Py_END_ALLOW_THREADS
  if (model == nullptr) {
    PyErr_Format(PyExc_OSError, "Cannot read KenLM model '%s' (%s)", file,
                 OneLine(error).c_str());
    Py_DECREF(path);
    return -1;
  }
  Py_DECREF(path);
  if (self->model != nullptr) {  // loaded by another thread meanwhile
    delete model;
    PyErr_SetString(PyExc_RuntimeError, "Model is already loaded");
    return -1;
  }
  self->model = model;
  self->probing = dynamic_cast<const lm::ngram::ProbingModel *>(model);
  return 0;
}

void ModelDealloc(ModelObject *self) {
  PyTypeObject *type = Py_TYPE(self);  // a heap type: its instances own a reference to it
  delete self->model;
  type->tp_free(reinterpret_cast<PyObject *>(self));
  Py_DECREF(type);
}

// The words of one batch, flattened: a line's words are words[line_end[i - 1]:line_end[i]].
struct Batch {
  std::vector<lm::WordIndex> words;
  std::vector<size_t> line_end;
  // The line's number of pieces: it is scored if it has one (the module's `if line`). Copied
  // because another thread may change the lists once the GIL is released.
  std::vector<Py_ssize_t> pieces;
};

// Reads `pieces` (a list of lists of bytes) into `batch`; false with a Python error set.
bool ReadPieces(PyObject *pieces, const lm::base::Vocabulary &vocab, Batch &batch) {
  const Py_ssize_t lines = PyList_GET_SIZE(pieces);
  batch.line_end.reserve(static_cast<size_t>(lines));
  batch.pieces.reserve(static_cast<size_t>(lines));
  for (Py_ssize_t i = 0; i < lines; ++i) {
    PyObject *line = PyList_GET_ITEM(pieces, i);
    if (!PyList_Check(line)) {
      PyErr_Format(PyExc_TypeError, "line %zd: expected a list of bytes, got %.100s", i,
                   Py_TYPE(line)->tp_name);
      return false;
    }
    // The list may not change while the GIL is held: its size and items stay valid.
    const Py_ssize_t count = PyList_GET_SIZE(line);
    bool ended = false;
    for (Py_ssize_t j = 0; j < count; ++j) {
      PyObject *piece = PyList_GET_ITEM(line, j);
      if (!PyBytes_Check(piece)) {
        PyErr_Format(PyExc_TypeError, "line %zd, piece %zd: expected bytes, got %.100s", i, j,
                     Py_TYPE(piece)->tp_name);
        return false;
      }
      if (ended) continue;  // past a NUL: the C string the module scores ended there
      const char *data = PyBytes_AS_STRING(piece);
      const Py_ssize_t size = PyBytes_GET_SIZE(piece);
      const char *end = static_cast<const char *>(std::memchr(data, '\0', static_cast<size_t>(size)));
      if (end != nullptr) {
        ended = true;
      } else {
        end = data + size;
      }
      while (data < end) {
        if (IsSpace(static_cast<unsigned char>(*data))) {
          ++data;
          continue;
        }
        const char *word_end = data;
        while (word_end < end && !IsSpace(static_cast<unsigned char>(*word_end))) ++word_end;
        batch.words.push_back(vocab.Index(StringPiece(data, static_cast<size_t>(word_end - data))));
        data = word_end;
      }
    }
    batch.line_end.push_back(batch.words.size());
    batch.pieces.push_back(count);
  }
  return true;
}

// log10 p(words </s> | <s>), summed in a float like the module's `total`.
template <class M, class State>
float ScoreWords(const M &model, const lm::WordIndex *words, size_t count,
                 lm::WordIndex end_sentence) {
  float total = 0.0f;
  State state = model.BeginSentenceState(), out;
  for (size_t w = 0; w < count; ++w) {
    total += model.Score(state, words[w], out);
    state = out;
  }
  return total + model.Score(state, end_sentence, out);
}

// The score of each line of the batch that has pieces; 0 for the others.
template <class M, class State>
void ScoreLines(const M &model, const Batch &batch, lm::WordIndex end_sentence,
                std::vector<float> &scores) {
  size_t begin = 0;
  for (size_t i = 0; i < batch.line_end.size(); ++i) {
    const size_t end = batch.line_end[i];
    scores[i] = batch.pieces[i] > 0 ? ScoreWords<M, State>(model, batch.words.data() + begin,
                                                           end - begin, end_sentence)
                                    : 0.0f;
    begin = end;
  }
}

// The virtual interface, for the binary types other than probing (trie, quantised, rest): all are
// n-gram models whose state is an lm::ngram::State.
struct VirtualModel {
  const lm::base::Model &model;
  struct StateBuffer {
    lm::ngram::State state;
  };
  StateBuffer BeginSentenceState() const {
    StateBuffer s;
    model.BeginSentenceWrite(&s.state);
    return s;
  }
  float Score(const StateBuffer &in, lm::WordIndex word, StateBuffer &out) const {
    return model.BaseScore(&in.state, word, &out.state);
  }
};

// ModelScore's work; std::bad_alloc escapes it.
PyObject *Score(const ModelObject &self, PyObject *pieces, PyObject *counts) {
  const Py_ssize_t texts = PyList_GET_SIZE(counts);
  const Py_ssize_t lines = PyList_GET_SIZE(pieces);
  std::vector<Py_ssize_t> text_lines(static_cast<size_t>(texts));
  Py_ssize_t total_lines = 0;
  for (Py_ssize_t t = 0; t < texts; ++t) {
    const Py_ssize_t n = PyLong_AsSsize_t(PyList_GET_ITEM(counts, t));
    if (n == -1 && PyErr_Occurred()) return nullptr;
    if (n < 0 || n > lines - total_lines) {
      PyErr_SetString(PyExc_ValueError, "counts must be non-negative and sum to len(pieces)");
      return nullptr;
    }
    text_lines[static_cast<size_t>(t)] = n;
    total_lines += n;
  }
  if (total_lines != lines) {
    PyErr_SetString(PyExc_ValueError, "counts must be non-negative and sum to len(pieces)");
    return nullptr;
  }

  Batch batch;
  if (!ReadPieces(pieces, self.model->BaseVocabulary(), batch)) return nullptr;
  std::vector<float> scores(batch.line_end.size());
  const lm::WordIndex end_sentence = self.model->BaseVocabulary().EndSentence();
  Py_BEGIN_ALLOW_THREADS
  if (self.probing != nullptr) {
    ScoreLines<lm::ngram::ProbingModel, lm::ngram::State>(*self.probing, batch, end_sentence,
                                                          scores);
  } else {
    ScoreLines<VirtualModel, VirtualModel::StateBuffer>(VirtualModel{*self.model}, batch,
                                                        end_sentence, scores);
  }
  Py_END_ALLOW_THREADS

  PyObject *per_text = PyList_New(texts);
  PyObject *lengths = PyList_New(texts);
  if (per_text == nullptr || lengths == nullptr) goto error;
  {
    size_t line = 0;
    for (Py_ssize_t t = 0; t < texts; ++t) {
      const size_t end = line + static_cast<size_t>(text_lines[static_cast<size_t>(t)]);
      Py_ssize_t scored = 0;
      for (size_t k = line; k < end; ++k) scored += batch.pieces[k] > 0;
      PyObject *floats = PyList_New(scored);
      if (floats == nullptr) goto error;
      PyList_SET_ITEM(per_text, t, floats);
      long long length = 0;
      Py_ssize_t out = 0;
      for (; line < end; ++line) {
        if (batch.pieces[line] == 0) continue;
        PyObject *value = PyFloat_FromDouble(static_cast<double>(scores[line]));
        if (value == nullptr) goto error;
        PyList_SET_ITEM(floats, out++, value);
        length += batch.pieces[line] + 1;
      }
      PyObject *length_object = PyLong_FromLongLong(length);
      if (length_object == nullptr) goto error;
      PyList_SET_ITEM(lengths, t, length_object);
    }
  }
  return Py_BuildValue("(NN)", per_text, lengths);
error:
  Py_XDECREF(per_text);
  Py_XDECREF(lengths);
  return nullptr;
}

PyObject *ModelScore(ModelObject *self, PyObject *args) {
  PyObject *pieces, *counts;
  if (!PyArg_ParseTuple(args, "O!O!:score", &PyList_Type, &pieces, &PyList_Type, &counts)) {
    return nullptr;
  }
  if (self->model == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "Model not initialised");
    return nullptr;
  }
  try {
    return Score(*self, pieces, counts);
  } catch (const std::bad_alloc &) {
    return PyErr_NoMemory();
  }
}

PyObject *ModelOrder(ModelObject *self, void *) {
  if (self->model == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "Model not initialised");
    return nullptr;
  }
  return PyLong_FromUnsignedLong(self->model->Order());
}

PyMethodDef kModelMethods[] = {
    {"score", reinterpret_cast<PyCFunction>(ModelScore), METH_VARARGS,
     "score(pieces: list[list[bytes]], counts: list[int]) -> (list[list[float]], list[int])\n\n"
     "pieces: SentencePiece's pieces of each line, the lines of all texts in order; counts: the\n"
     "number of lines of each text. For each text, the log10 p(line </s> | <s>) of its lines\n"
     "that have pieces, as kenlm.Model.score(b' '.join(line)) gives them, and the sum of those\n"
     "lines' len(line) + 1."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef kModelGetSet[] = {
    {"order", reinterpret_cast<getter>(ModelOrder), nullptr, "The n-gram order.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot kModelSlots[] = {
    {Py_tp_doc,
     const_cast<char *>(
         "Model(path): a KenLM model (binary, memory-mapped, or ARPA); OSError if unreadable.")},
    {Py_tp_new, reinterpret_cast<void *>(PyType_GenericNew)},
    {Py_tp_init, reinterpret_cast<void *>(ModelInit)},
    {Py_tp_dealloc, reinterpret_cast<void *>(ModelDealloc)},
    {Py_tp_methods, kModelMethods},
    {Py_tp_getset, kModelGetSet},
    {0, nullptr}};

PyType_Spec kModelSpec = {"filters._kenlm_lines.Model", sizeof(ModelObject), 0,
                          Py_TPFLAGS_DEFAULT, kModelSlots};

// ---------------------------------------------------------------------------------------------
// AsciiScorer: SentencePiece's pieces of printable-ASCII lines (native/ascii_unigram.h) scored
// by a Model in the same call, without a Python object per piece.

PyTypeObject *g_model_type = nullptr;  // set by the module's init

struct AsciiScorerObject {
  PyObject_HEAD
  ModelObject *model;  // a reference: the scorer reads the model's vocabulary and n-grams
  ascii_unigram::Encoder *encoder;
  std::vector<lm::WordIndex> *words;  // the model's word for each piece id
};

int AsciiScorerInit(AsciiScorerObject *self, PyObject *args, PyObject *kwargs) {
  static const char *keywords[] = {"model", "pieces", "scores", "types", nullptr};
  PyObject *model, *pieces, *scores;
  Py_buffer types;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!y*:AsciiScorer",
                                   const_cast<char **>(keywords), g_model_type, &model,
                                   &PyList_Type, &pieces, &PyList_Type, &scores, &types)) {
    return -1;
  }
  const Py_ssize_t n = PyList_GET_SIZE(pieces);
  const unsigned char *type = static_cast<const unsigned char *>(types.buf);
  ModelObject *lm_model = reinterpret_cast<ModelObject *>(model);
  if (self->encoder != nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "AsciiScorer is already initialised");
  } else if (lm_model->model == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "Model not initialised");
  } else if (PyList_GET_SIZE(scores) != n || types.len != n) {
    PyErr_SetString(PyExc_ValueError, "pieces, scores and types differ in length");
  } else if (n > INT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "too many pieces");
  } else {
    try {
      auto encoder = std::make_unique<ascii_unigram::Encoder>();
      auto words = std::make_unique<std::vector<lm::WordIndex>>(static_cast<size_t>(n));
      const lm::base::Vocabulary &vocab = lm_model->model->BaseVocabulary();
      int unknown = -1;
      for (Py_ssize_t i = 0; i < n && !PyErr_Occurred(); ++i) {
        PyObject *piece = PyList_GET_ITEM(pieces, i);
        const double score = PyFloat_AsDouble(PyList_GET_ITEM(scores, i));
        if (score == -1.0 && PyErr_Occurred()) break;
        if (!PyBytes_Check(piece)) {
          PyErr_Format(PyExc_TypeError, "piece %zd: expected bytes", i);
          break;
        }
        const std::string_view text(PyBytes_AS_STRING(piece),
                                    static_cast<size_t>(PyBytes_GET_SIZE(piece)));
        if (type[i] == 2) {
          if (unknown != -1) {
            PyErr_SetString(PyExc_ValueError, "more than one unknown piece");
            break;
          }
          unknown = static_cast<int>(i);
        }
        if (!encoder->Add(static_cast<int>(i), text, static_cast<float>(score), type[i])) {
          PyErr_Format(PyExc_ValueError, "piece %zd: type %d is not supported", i, type[i]);
          break;
        }
        (*words)[static_cast<size_t>(i)] = vocab.Index(StringPiece(text.data(), text.size()));
      }
      if (!PyErr_Occurred() && unknown == -1) {
        PyErr_SetString(PyExc_ValueError, "no unknown piece");
      }
      if (!PyErr_Occurred()) {
        encoder->SetUnknown(unknown);
        encoder->Build();
        Py_INCREF(model);
        self->model = lm_model;
        self->encoder = encoder.release();
        self->words = words.release();
      }
    } catch (const std::bad_alloc &) {
      PyErr_NoMemory();
    }
  }
  PyBuffer_Release(&types);
  return PyErr_Occurred() ? -1 : 0;
}

void AsciiScorerDealloc(AsciiScorerObject *self) {
  PyTypeObject *type = Py_TYPE(self);
  delete self->encoder;
  delete self->words;
  Py_XDECREF(reinterpret_cast<PyObject *>(self->model));
  type->tp_free(reinterpret_cast<PyObject *>(self));
  Py_DECREF(type);
}

// Lines longer than this go back to SentencePiece (positions are ints).
constexpr size_t kMaxAsciiLine = size_t{1} << 30;

// AsciiScorerScore's work; std::bad_alloc escapes it.
PyObject *ScoreAscii(const AsciiScorerObject &self, PyObject *lines) {
  // A tuple holds the strings while the GIL is released (the list may change meanwhile).
  PyObject *held = PyList_AsTuple(lines);
  if (held == nullptr) return nullptr;
  const Py_ssize_t n = PyTuple_GET_SIZE(held);
  std::vector<std::string_view> views(static_cast<size_t>(n));
  std::vector<long long> tokens(static_cast<size_t>(n), -1);  // -1: not taken
  std::vector<float> scores(static_cast<size_t>(n), 0.0f);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject *line = PyTuple_GET_ITEM(held, i);
    if (!PyUnicode_Check(line)) {
      PyErr_Format(PyExc_TypeError, "line %zd: expected str, got %.100s", i,
                   Py_TYPE(line)->tp_name);
      Py_DECREF(held);
      return nullptr;
    }
    // An ASCII str's characters are its UTF-8 bytes; any other goes back to SentencePiece.
    if (PyUnicode_IS_ASCII(line) && static_cast<size_t>(PyUnicode_GET_LENGTH(line)) < kMaxAsciiLine) {
      views[static_cast<size_t>(i)] = std::string_view(
          static_cast<const char *>(PyUnicode_DATA(line)),
          static_cast<size_t>(PyUnicode_GET_LENGTH(line)));
      tokens[static_cast<size_t>(i)] = 0;
    }
  }
  const ascii_unigram::Encoder &encoder = *self.encoder;
  const lm::base::Model &model = *self.model->model;
  const lm::ngram::ProbingModel *probing = self.model->probing;
  const lm::base::Vocabulary &vocab = model.BaseVocabulary();
  const lm::WordIndex end_sentence = vocab.EndSentence();
  bool failed = false;
  Py_BEGIN_ALLOW_THREADS
  try {
    std::string normalized;
    std::vector<ascii_unigram::Token> pieces;
    std::vector<float> path_scores;
    std::vector<int> starts, ids;
    std::vector<lm::WordIndex> words;
    for (size_t i = 0; i < views.size(); ++i) {
      if (tokens[i] < 0) continue;
      if (!ascii_unigram::Encoder::Takes(views[i])) {
        tokens[i] = -1;
        continue;
      }
      encoder.Encode(views[i], normalized, pieces, path_scores, starts, ids);
      tokens[i] = static_cast<long long>(pieces.size());
      if (pieces.empty()) continue;
      words.clear();
      for (const auto &piece : pieces) {
        if (piece.id == encoder.unknown()) {
          const std::string surface = ascii_unigram::Encoder::Surface(normalized, piece);
          words.push_back(vocab.Index(StringPiece(surface.data(), surface.size())));
        } else {
          words.push_back((*self.words)[static_cast<size_t>(piece.id)]);
        }
      }
      scores[i] = probing != nullptr
                      ? ScoreWords<lm::ngram::ProbingModel, lm::ngram::State>(
                            *probing, words.data(), words.size(), end_sentence)
                      : ScoreWords<VirtualModel, VirtualModel::StateBuffer>(
                            VirtualModel{model}, words.data(), words.size(), end_sentence);
    }
  } catch (const std::bad_alloc &) {
    failed = true;
  }
  Py_END_ALLOW_THREADS
  Py_DECREF(held);
  if (failed) return PyErr_NoMemory();

  PyObject *score_list = PyList_New(n);
  PyObject *token_list = PyList_New(n);
  if (score_list == nullptr || token_list == nullptr) goto error;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject *score = PyFloat_FromDouble(static_cast<double>(scores[static_cast<size_t>(i)]));
    if (score == nullptr) goto error;
    PyList_SET_ITEM(score_list, i, score);
    PyObject *count = PyLong_FromLongLong(tokens[static_cast<size_t>(i)]);
    if (count == nullptr) goto error;
    PyList_SET_ITEM(token_list, i, count);
  }
  return Py_BuildValue("(NN)", score_list, token_list);
error:
  Py_XDECREF(score_list);
  Py_XDECREF(token_list);
  return nullptr;
}

PyObject *AsciiScorerScore(AsciiScorerObject *self, PyObject *args) {
  PyObject *lines;
  if (!PyArg_ParseTuple(args, "O!:score", &PyList_Type, &lines)) return nullptr;
  if (self->encoder == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "AsciiScorer not initialised");
    return nullptr;
  }
  try {
    return ScoreAscii(*self, lines);
  } catch (const std::bad_alloc &) {
    return PyErr_NoMemory();
  }
}

PyMethodDef kAsciiScorerMethods[] = {
    {"score", reinterpret_cast<PyCFunction>(AsciiScorerScore), METH_VARARGS,
     "score(lines: list[str]) -> (list[float], list[int])\n\n"
     "For each line of printable ASCII: kenlm.Model.score(b' '.join(pieces)) of SentencePiece's\n"
     "pieces of it (0.0 when it has none) and their number. Any other line is not taken: 0.0\n"
     "and -1, for the caller to encode through SentencePiece."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot kAsciiScorerSlots[] = {
    {Py_tp_doc,
     const_cast<char *>(
         "AsciiScorer(model, pieces, scores, types): a SentencePiece unigram model's pieces\n"
         "(bytes), scores (float) and types (one byte each, ModelProto's enum) scoring\n"
         "printable-ASCII lines with a Model. The caller checks that the SentencePiece model is\n"
         "one this reproduces (core.spm_proto); ValueError for user-defined pieces.")},
    {Py_tp_new, reinterpret_cast<void *>(PyType_GenericNew)},
    {Py_tp_init, reinterpret_cast<void *>(AsciiScorerInit)},
    {Py_tp_dealloc, reinterpret_cast<void *>(AsciiScorerDealloc)},
    {Py_tp_methods, kAsciiScorerMethods},
    {0, nullptr}};

PyType_Spec kAsciiScorerSpec = {"filters._kenlm_lines.AsciiScorer", sizeof(AsciiScorerObject),
                                0, Py_TPFLAGS_DEFAULT, kAsciiScorerSlots};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT,
    "filters._kenlm_lines",
    "KenLM scores of SentencePiece-encoded lines, a batch per call (see filters/perplexity.py).",
    -1,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__kenlm_lines() {
  PyObject *module = PyModule_Create(&kModule);
  if (module == nullptr) return nullptr;
  PyObject *type = PyType_FromSpec(&kModelSpec);
  if (type == nullptr || PyModule_AddObject(module, "Model", type) < 0) {
    Py_XDECREF(type);
    Py_DECREF(module);
    return nullptr;
  }
  g_model_type = reinterpret_cast<PyTypeObject *>(type);  // the module holds it
  PyObject *scorer = PyType_FromSpec(&kAsciiScorerSpec);
  if (scorer == nullptr || PyModule_AddObject(module, "AsciiScorer", scorer) < 0) {
    Py_XDECREF(scorer);
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
