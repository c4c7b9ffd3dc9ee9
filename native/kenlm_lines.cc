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
#include <new>
#include <string>
#include <vector>

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

// log10 p(words </s> | <s>) of each scored line, summed in a float like the module's `total`.
template <class M, class State>
void ScoreLines(const M &model, const Batch &batch, lm::WordIndex end_sentence,
                std::vector<float> &scores) {
  size_t begin = 0;
  for (size_t i = 0; i < batch.line_end.size(); ++i) {
    const size_t end = batch.line_end[i];
    float total = 0.0f;
    if (batch.pieces[i] > 0) {
      State state = model.BeginSentenceState(), out;
      for (size_t w = begin; w < end; ++w) {
        total += model.Score(state, batch.words[w], out);
        state = out;
      }
      total += model.Score(state, end_sentence, out);
    }
    scores[i] = total;
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
  return module;
}
