/*
 * filters._fastlid: fastText's top-1 `predict` for supervised hierarchical-softmax models with
 * word n-grams of 1 and a pruned n-gram index (lid.176.ftz), bit for bit.
 *
 * Each step mirrors fastText's C++ (src/dictionary.cc, model.cc, loss.cc) in its order and
 * precision, so the results are the same by construction: the tokens of `text + "\n"` as
 * Dictionary::readWord and getLine read them (up to the first "</s>"), the input rows of each
 * word (its id, then its character n-grams' pruned rows, by first character then length),
 * summed one after the other in float32 and scaled by float32(1.0 / count) (computeHidden),
 * then HierarchicalSoftmaxLoss::dfs with k = 1: its pruning, its float32 sigmoid through glibc's
 * expf, its log(x + 1e-5) in double rounded to float32, and the later of two equal leaves kept
 * (std::push_heap/pop_heap with `l.first > r.first`). The speed is all in doing less around
 * that: no streams, strings or vectors per token, each word's rows listed once (as
 * Dictionary::initNgrams does), a bit filter and a small hash map for the pruned index, and an
 * unknown token's rows computed once per call however often its texts repeat it.
 *
 * The model's arrays are copied in at construction and only read afterwards, so `predict` runs
 * without the GIL and from several threads at once. A text whose search meets a NaN (fastText
 * throws EncounterNanError there) or whose UTF-8 cannot be had is answered FALLBACK, for the
 * caller to ask fastText itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#define NO_LABEL (-1)
#define FALLBACK (-2)
#define MAX_DIM (1 << 16)
#define FILTER_BITS (1u << 21) /* lid.176's 2,000,000 buckets: one bit each, in 256 KiB */
#define EOS "</s>"
#define LABEL_PREFIX "__label__"

typedef struct {
    PyObject_HEAD
    int32_t dim, nwords, nlabels, minn, maxn;
    uint32_t bucket;
    Py_ssize_t rows;
    /* the dictionary's entries (words, then labels), NUL-separated, and where each starts */
    char *blob;
    Py_ssize_t *starts; /* nentries + 1: entry i is blob[starts[i], starts[i + 1] - 1) */
    Py_ssize_t nentries;
    int32_t *word_slots; /* open addressing: entry ids, -1 empty */
    uint32_t word_mask;
    int32_t *grams; /* open addressing: (bucket, input row) pairs, bucket -1 empty */
    uint32_t gram_mask;
    uint64_t *gram_filter; /* bit (bucket % FILTER_BITS) set for each bucket in the index */
    float *input;          /* rows x dim */
    float *output;         /* (nlabels - 1) x dim: the internal nodes' rows */
    int32_t *left, *right; /* 2 * nlabels - 1 nodes; leaves are the labels, -1 children */
    /* each word's input rows, its own then its n-grams' (Dictionary::initNgrams):
       word_rows[word_row_starts[id], word_row_starts[id + 1]) */
    int32_t *word_rows;
    Py_ssize_t *word_row_starts;
} Predictor;

/* The n-gram rows of the out-of-vocabulary tokens seen in one predict call, so that a token
 * repeated in its texts is hashed once: a direct-mapped table (a token takes its slot from the
 * one before) over an arena of rows, both emptied when the arena is full. */
#define CACHED_BYTES 64 /* longer tokens are rare: computed every time */
typedef struct {
    const unsigned char *token; /* inside one of the call's texts; NULL: empty */
    uint32_t hash;
    int32_t length, start, count;
} Slot;

typedef struct { /* one predict call's working memory */
    float *hidden;
    struct Pending *stack;
    unsigned char *framed; /* "<" + token + ">" */
    Slot *slots;
    uint32_t slot_mask;
    int32_t *rows;
    Py_ssize_t used, room;
} Scratch;

typedef struct {
    int32_t label; /* a label index, NO_LABEL or FALLBACK */
    float score;
} Answer;

typedef struct Pending {
    int32_t node;
    float score;
} Pending;

/* FNV-1a over bytes read as signed chars (Dictionary::hash). */
static inline uint32_t fnv_step(uint32_t h, unsigned char byte) {
    return (h ^ (uint32_t)(int32_t)(int8_t)byte) * 16777619u;
}

static uint32_t fnv(const char *s, Py_ssize_t n) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h = fnv_step(h, (unsigned char)s[i]);
    }
    return h;
}

static inline uint32_t mix(uint32_t key) {
    key ^= key >> 16;
    key *= 0x7feb352du;
    key ^= key >> 15;
    return key;
}

static uint32_t table_size(Py_ssize_t items) {
    uint32_t size = 8;
    while ((Py_ssize_t)size < 2 * items) {
        size <<= 1;
    }
    return size;
}

/* The entry id of a word (the later of equal entries, as Dictionary::load leaves it) or -1. */
static int32_t find_word(const Predictor *p, const char *s, Py_ssize_t n, uint32_t hash) {
    uint32_t at = hash & p->word_mask;
    for (;;) {
        int32_t id = p->word_slots[at];
        if (id < 0) {
            return -1;
        }
        Py_ssize_t start = p->starts[id], length = p->starts[id + 1] - 1 - start;
        if (length == n && memcmp(p->blob + start, s, (size_t)n) == 0) {
            return id;
        }
        at = (at + 1) & p->word_mask;
    }
}

static int32_t find_gram(const Predictor *p, uint32_t bucket) {
    uint32_t bit = bucket & (FILTER_BITS - 1);
    if (!(p->gram_filter[bit >> 6] >> (bit & 63) & 1)) {
        return -1;
    }
    uint32_t at = mix(bucket) & p->gram_mask;
    for (;;) {
        int32_t key = p->grams[2 * at];
        if (key < 0) {
            return -1;
        }
        if ((uint32_t)key == bucket) {
            return p->grams[2 * at + 1];
        }
        at = (at + 1) & p->gram_mask;
    }
}

static inline void add_row(const Predictor *p, float *hidden, Py_ssize_t row) {
    const float *values = p->input + row * p->dim;
    for (int32_t k = 0; k < p->dim; k++) {
        hidden[k] += values[k];
    }
}

/* Dictionary::computeSubwords of `framed` ("<" + word + ">") with pushHash: the input rows of
 * its character n-grams the pruned index keeps, by first character, then length (each n-gram's
 * hash extends the previous one's). Each row is added to `hidden`, or, where that is NULL,
 * written to `rows` (unless NULL too: then only counted). Returns how many. */
static Py_ssize_t subwords(const Predictor *p, const unsigned char *framed, Py_ssize_t size,
                           float *hidden, int32_t *rows) {
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        if ((framed[i] & 0xC0) == 0x80) {
            continue;
        }
        uint32_t h = 2166136261u;
        Py_ssize_t j = i;
        for (int64_t chars = 1; j < size && chars <= p->maxn; chars++) {
            h = fnv_step(h, framed[j++]);
            while (j < size && (framed[j] & 0xC0) == 0x80) {
                h = fnv_step(h, framed[j++]);
            }
            if (chars >= p->minn && !(chars == 1 && (i == 0 || j == size))) {
                int32_t row = find_gram(p, h % p->bucket);
                if (row >= 0) {
                    if (hidden != NULL) {
                        add_row(p, hidden, row);
                    } else if (rows != NULL) {
                        rows[found] = row;
                    }
                    found++;
                }
            }
        }
    }
    return found;
}

static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == 0;
}

static float std_log(float x) { return (float)log((double)x + 1e-5); }

/* HierarchicalSoftmaxLoss::dfs with k = 1 and threshold 0, depth first, left before right. */
static Answer search(const Predictor *p, const float *hidden, Pending *stack) {
    Answer best = {NO_LABEL, 0.0f};
    const float threshold = std_log(0.0f);
    Py_ssize_t depth = 0;
    stack[depth++] = (Pending){2 * p->nlabels - 2, 0.0f};
    while (depth > 0) {
        Pending at = stack[--depth];
        if (at.score < threshold || (best.label >= 0 && at.score < best.score)) {
            continue;
        }
        if (at.node < p->nlabels) { /* a leaf: at.score >= best.score, so it takes the place */
            best.label = at.node;
            best.score = at.score;
            continue;
        }
        const float *row = p->output + (Py_ssize_t)(at.node - p->nlabels) * p->dim;
        float f = 0.0f;
        for (int32_t k = 0; k < p->dim; k++) {
            f += row[k] * hidden[k];
        }
        if (isnan(f)) {
            best.label = FALLBACK;
            return best;
        }
        f = (float)(1. / (double)(1.0f + expf(-f)));
        stack[depth++] = (Pending){p->right[at.node], at.score + std_log(f)};
        stack[depth++] = (Pending){p->left[at.node], at.score + std_log((float)(1.0 - f))};
    }
    return best;
}

/* The n-gram rows of an out-of-vocabulary token, added to `hidden`; returns how many. */
static Py_ssize_t add_unknown(const Predictor *p, Scratch *scratch, const unsigned char *token,
                              Py_ssize_t n, uint32_t hash) {
    Slot *slot = &scratch->slots[(hash ^ (hash >> 15)) & scratch->slot_mask];
    if (n <= CACHED_BYTES && slot->token != NULL && slot->hash == hash && slot->length == n &&
        memcmp(slot->token, token, (size_t)n) == 0) {
        for (int32_t i = slot->start; i < slot->start + slot->count; i++) {
            add_row(p, scratch->hidden, scratch->rows[i]);
        }
        return slot->count;
    }
    scratch->framed[0] = '<';
    memcpy(scratch->framed + 1, token, (size_t)n);
    scratch->framed[n + 1] = '>';
    Py_ssize_t most = (n + 2) * (p->maxn < n + 2 ? p->maxn : n + 2); /* n-grams at most */
    if (n > CACHED_BYTES || most > scratch->room) {
        return subwords(p, scratch->framed, n + 2, scratch->hidden, NULL);
    }
    if (scratch->used + most > scratch->room) {
        memset(scratch->slots, 0, ((size_t)scratch->slot_mask + 1) * sizeof(Slot));
        scratch->used = 0;
    }
    int32_t *rows = scratch->rows + scratch->used;
    Py_ssize_t count = subwords(p, scratch->framed, n + 2, NULL, rows);
    for (Py_ssize_t i = 0; i < count; i++) {
        add_row(p, scratch->hidden, rows[i]);
    }
    *slot = (Slot){token, hash, (int32_t)n, (int32_t)scratch->used, (int32_t)count};
    scratch->used += count;
    return count;
}

/* Dictionary::getLine on `text + "\n"`, Model::computeHidden, then the search. */
static Answer predict_one(const Predictor *p, const unsigned char *text, Py_ssize_t length,
                          Scratch *scratch) {
    float *hidden = scratch->hidden;
    Py_ssize_t inputs = 0, at = 0;
    memset(hidden, 0, sizeof(float) * (size_t)p->dim);
    for (;;) {
        while (at < length && is_space(text[at])) {
            at++;
        }
        const unsigned char *token = (const unsigned char *)EOS;
        Py_ssize_t n = 4;
        if (at < length) { /* else the closing "\n": the end-of-sentence token */
            token = text + at;
            while (at < length && !is_space(text[at])) {
                at++;
            }
            n = text + at - token;
        }
        int eos = n == 4 && memcmp(token, EOS, 4) == 0;
        uint32_t hash = fnv((const char *)token, n);
        int32_t id = find_word(p, (const char *)token, n, hash);
        if (id >= 0 && id < p->nwords) {
            for (Py_ssize_t i = p->word_row_starts[id]; i < p->word_row_starts[id + 1]; i++) {
                add_row(p, hidden, p->word_rows[i]);
            }
            inputs += p->word_row_starts[id + 1] - p->word_row_starts[id];
        } else if (id < 0 && !eos && !(n >= 9 && memcmp(token, LABEL_PREFIX, 9) == 0)) {
            inputs += add_unknown(p, scratch, token, n, hash);
        }
        if (eos) {
            break;
        }
    }
    if (inputs == 0) {
        return (Answer){NO_LABEL, 0.0f};
    }
    const float scale = (float)(1.0 / (double)inputs);
    for (int32_t k = 0; k < p->dim; k++) {
        hidden[k] *= scale;
    }
    return search(p, hidden, scratch->stack);
}

static PyObject *predictor_predict(Predictor *self, PyObject *arg) {
    PyObject *texts = PySequence_List(arg); /* our own list: its strings outlive the GIL's
                                              release whatever the caller's list does */
    if (texts == NULL) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(texts);
    const char **data = PyMem_Calloc((size_t)count + 1, sizeof(char *));
    Py_ssize_t *lengths = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    Answer *answers = PyMem_Calloc((size_t)count + 1, sizeof(Answer));
    Scratch scratch = {PyMem_Calloc((size_t)self->dim, sizeof(float)),
                       PyMem_Calloc(2 * (size_t)self->nlabels + 1, sizeof(Pending)),
                       NULL, NULL, 0, NULL, 0, 0};
    Py_ssize_t longest = 0, total = 0;
    PyObject *labels = NULL, *probabilities = NULL, *result = NULL;
    if (!data || !lengths || !answers || !scratch.hidden || !scratch.stack) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts must be str, not %.100s", Py_TYPE(text)->tp_name);
            goto done;
        }
        data[i] = PyUnicode_AsUTF8AndSize(text, &lengths[i]);
        if (data[i] == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                goto done;
            }
            PyErr_Clear(); /* a lone surrogate: fastText's own conversion says what it says */
            answers[i].label = FALLBACK;
        } else if (memchr(data[i], '\n', (size_t)lengths[i]) != NULL) {
            PyErr_SetString(PyExc_ValueError,
                            "predict processes one line at a time (remove '\\n')");
            goto done;
        } else {
            longest = lengths[i] > longest ? lengths[i] : longest;
            total += lengths[i];
        }
    }
    /* room for about a tenth of the bytes' tokens and all their n-grams, within bounds */
    scratch.slot_mask = table_size(total / 20 < 1 << 16 ? total / 20 : 1 << 16) - 1;
    scratch.room = total < 1 << 16 ? 1 << 16 : total < 1 << 22 ? total : 1 << 22;
    scratch.framed = PyMem_Malloc((size_t)longest + 2);
    scratch.slots = PyMem_Calloc((size_t)scratch.slot_mask + 1, sizeof(Slot));
    scratch.rows = PyMem_Malloc((size_t)scratch.room * sizeof(int32_t));
    if (!scratch.framed || !scratch.slots || !scratch.rows) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        if (data[i] != NULL) {
            answers[i] = predict_one(self, (const unsigned char *)data[i], lengths[i], &scratch);
        }
    }
    Py_END_ALLOW_THREADS
    labels = PyList_New(count);
    probabilities = PyList_New(count);
    if (labels == NULL || probabilities == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *label = PyLong_FromLong(answers[i].label);
        PyObject *probability =
            PyFloat_FromDouble(answers[i].label >= 0 ? (double)expf(answers[i].score) : 0.0);
        if (label == NULL || probability == NULL) {
            Py_XDECREF(label);
            Py_XDECREF(probability);
            goto done;
        }
        PyList_SET_ITEM(labels, i, label);
        PyList_SET_ITEM(probabilities, i, probability);
    }
    result = PyTuple_Pack(2, labels, probabilities);
done:
    Py_XDECREF(labels);
    Py_XDECREF(probabilities);
    PyMem_Free(data);
    PyMem_Free(lengths);
    PyMem_Free(answers);
    PyMem_Free(scratch.hidden);
    PyMem_Free(scratch.stack);
    PyMem_Free(scratch.framed);
    PyMem_Free(scratch.slots);
    PyMem_Free(scratch.rows);
    Py_DECREF(texts);
    return result;
}

/* HierarchicalSoftmaxLoss::buildTree: the two least frequent of the labels (sorted most
 * frequent first) and the nodes built so far make the next node. */
static int build_tree(Predictor *p, const char *counts) {
    int32_t nodes = 2 * p->nlabels - 1;
    int64_t *count = PyMem_Calloc((size_t)nodes, sizeof(int64_t));
    if (count == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int32_t i = 0; i < nodes; i++) {
        p->left[i] = p->right[i] = -1;
        count[i] = 1000000000000000LL;
        if (i < p->nlabels) {
            memcpy(&count[i], counts + i * sizeof(int64_t), sizeof(int64_t));
        }
    }
    int32_t leaf = p->nlabels - 1, node = p->nlabels;
    for (int32_t i = p->nlabels; i < nodes; i++) {
        int32_t least[2];
        for (int j = 0; j < 2; j++) {
            least[j] = leaf >= 0 && count[leaf] < count[node] ? leaf-- : node++;
        }
        p->left[i] = least[0];
        p->right[i] = least[1];
        count[i] = (int64_t)((uint64_t)count[least[0]] + (uint64_t)count[least[1]]);
    }
    PyMem_Free(count);
    return 0;
}

/* Dictionary::initNgrams for the words: each one's row, then its n-grams' (none for "</s>"). */
static int word_rows(Predictor *p) {
    Py_ssize_t longest = 0, total = 0;
    for (int32_t id = 0; id < p->nwords; id++) {
        Py_ssize_t n = p->starts[id + 1] - 1 - p->starts[id];
        longest = n > longest ? n : longest;
    }
    unsigned char *framed = PyMem_Malloc((size_t)longest + 2);
    p->word_row_starts = PyMem_Calloc((size_t)p->nwords + 1, sizeof(Py_ssize_t));
    if (framed == NULL || p->word_row_starts == NULL) {
        PyMem_Free(framed);
        PyErr_NoMemory();
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        if (pass == 1 && (p->word_rows = PyMem_Calloc((size_t)total + 1, sizeof(int32_t))) == NULL) {
            PyMem_Free(framed);
            PyErr_NoMemory();
            return -1;
        }
        total = 0;
        for (int32_t id = 0; id < p->nwords; id++) {
            const char *word = p->blob + p->starts[id];
            Py_ssize_t n = p->starts[id + 1] - 1 - p->starts[id];
            p->word_row_starts[id] = total;
            if (pass == 1) {
                p->word_rows[total] = id;
            }
            total++;
            if (!(n == 4 && memcmp(word, EOS, 4) == 0)) {
                framed[0] = '<';
                memcpy(framed + 1, word, (size_t)n);
                framed[n + 1] = '>';
                total += subwords(p, framed, n + 2, NULL, pass == 1 ? p->word_rows + total : NULL);
            }
        }
        p->word_row_starts[p->nwords] = total;
    }
    PyMem_Free(framed);
    return 0;
}

static void release(Predictor *p) {
    PyMem_Free(p->blob);
    PyMem_Free(p->starts);
    PyMem_Free(p->word_slots);
    PyMem_Free(p->grams);
    PyMem_Free(p->gram_filter);
    PyMem_Free(p->input);
    PyMem_Free(p->output);
    PyMem_Free(p->left);
    PyMem_Free(p->right);
    PyMem_Free(p->word_rows);
    PyMem_Free(p->word_row_starts);
    p->word_rows = NULL;
    p->word_row_starts = NULL;
    p->blob = NULL;
    p->starts = NULL;
    p->word_slots = p->grams = p->left = p->right = NULL;
    p->gram_filter = NULL;
    p->input = p->output = NULL;
}

static int predictor_init(Predictor *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"entries", "nwords", "label_counts", "dim", "input", "output",
                               "pruned", "bucket", "minn", "maxn", NULL};
    Py_buffer entries = {0}, counts = {0}, input = {0}, output = {0}, pruned = {0};
    int nwords, dim, minn, maxn;
    long long bucket;
    int ok = -1;
    if (self->blob != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Predictor is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*iy*iy*y*y*Lii", keywords, &entries,
                                     &nwords, &counts, &dim, &input, &output, &pruned, &bucket,
                                     &minn, &maxn)) {
        return -1;
    }
    Py_ssize_t nentries = 1;
    for (Py_ssize_t i = 0; i < entries.len; i++) {
        nentries += ((const char *)entries.buf)[i] == '\0';
    }
    if (dim < 1 || dim > MAX_DIM || nwords < 0 || nwords >= nentries || nentries > INT32_MAX / 2 ||
        counts.len != (nentries - nwords) * (Py_ssize_t)sizeof(int64_t) || bucket < 1 ||
        bucket > INT32_MAX || minn < 0 || maxn < 0 ||
        input.len % (dim * (Py_ssize_t)sizeof(float)) != 0 ||
        pruned.len % (2 * (Py_ssize_t)sizeof(int32_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "inconsistent model arrays");
        goto done;
    }
    self->dim = dim;
    self->nwords = nwords;
    self->nlabels = (int32_t)(nentries - nwords);
    self->minn = minn;
    self->maxn = maxn;
    self->bucket = (uint32_t)bucket;
    self->rows = input.len / (dim * (Py_ssize_t)sizeof(float));
    self->nentries = nentries;
    if (self->rows < nwords || self->rows > INT32_MAX ||
        output.len != (Py_ssize_t)(self->nlabels - 1) * dim * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent model arrays");
        goto done;
    }
    Py_ssize_t npruned = pruned.len / (2 * (Py_ssize_t)sizeof(int32_t));
    if (npruned > INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "pruned index too large");
        goto done;
    }
    self->word_mask = table_size(nentries) - 1;
    self->gram_mask = table_size(npruned) - 1;
    self->blob = PyMem_Malloc((size_t)entries.len + 1);
    self->starts = PyMem_Calloc((size_t)nentries + 1, sizeof(Py_ssize_t));
    self->word_slots = PyMem_Malloc(((size_t)self->word_mask + 1) * sizeof(int32_t));
    self->grams = PyMem_Malloc(((size_t)self->gram_mask + 1) * 2 * sizeof(int32_t));
    self->gram_filter = PyMem_Calloc(FILTER_BITS / 64, sizeof(uint64_t));
    self->input = PyMem_Malloc((size_t)input.len + 1);
    self->output = PyMem_Malloc((size_t)output.len + 1);
    self->left = PyMem_Calloc(2 * (size_t)self->nlabels, sizeof(int32_t));
    self->right = PyMem_Calloc(2 * (size_t)self->nlabels, sizeof(int32_t));
    if (!self->blob || !self->starts || !self->word_slots || !self->grams ||
        !self->gram_filter || !self->input || !self->output || !self->left || !self->right) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(self->blob, entries.buf, (size_t)entries.len);
    self->blob[entries.len] = '\0';
    memcpy(self->input, input.buf, (size_t)input.len);
    memcpy(self->output, output.buf, (size_t)output.len);
    Py_ssize_t entry = 0;
    for (Py_ssize_t i = 0; i <= entries.len; i++) {
        if (self->blob[i] == '\0') {
            self->starts[++entry] = i + 1;
        }
    }
    memset(self->word_slots, 0xff, ((size_t)self->word_mask + 1) * sizeof(int32_t));
    for (int32_t id = 0; id < nentries; id++) {
        const char *word = self->blob + self->starts[id];
        Py_ssize_t length = self->starts[id + 1] - 1 - self->starts[id];
        uint32_t at = fnv(word, length) & self->word_mask;
        while (self->word_slots[at] >= 0) {
            int32_t other = self->word_slots[at];
            if (self->starts[other + 1] - 1 - self->starts[other] == length &&
                memcmp(self->blob + self->starts[other], word, (size_t)length) == 0) {
                break; /* the later entry replaces it */
            }
            at = (at + 1) & self->word_mask;
        }
        self->word_slots[at] = id;
    }
    memset(self->grams, 0xff, ((size_t)self->gram_mask + 1) * 2 * sizeof(int32_t));
    for (Py_ssize_t i = 0; i < npruned; i++) {
        int32_t pair[2];
        memcpy(pair, (const char *)pruned.buf + i * sizeof(pair), sizeof(pair));
        int32_t key = pair[0];
        int64_t row = (int64_t)nwords + pair[1];
        if (key < 0 || (uint32_t)key >= self->bucket) {
            continue; /* never looked up: n-gram ids are hash % bucket */
        }
        if (row < 0 || row >= self->rows) {
            PyErr_SetString(PyExc_ValueError, "pruned index row outside the input matrix");
            goto done;
        }
        uint32_t at = mix((uint32_t)key) & self->gram_mask;
        while (self->grams[2 * at] >= 0 && self->grams[2 * at] != key) {
            at = (at + 1) & self->gram_mask;
        }
        self->grams[2 * at] = key; /* a later pair replaces an earlier one */
        self->grams[2 * at + 1] = (int32_t)row;
        uint32_t bit = (uint32_t)key & (FILTER_BITS - 1);
        self->gram_filter[bit >> 6] |= (uint64_t)1 << (bit & 63);
    }
    if (word_rows(self) == 0) {
        ok = build_tree(self, counts.buf);
    }
done:
    PyBuffer_Release(&entries);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&input);
    PyBuffer_Release(&output);
    PyBuffer_Release(&pruned);
    if (ok != 0) {
        release(self);
    }
    return ok;
}

static void predictor_dealloc(Predictor *self) {
    release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *predict_checked(Predictor *self, PyObject *texts) {
    if (self->blob == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Predictor is not initialised");
        return NULL;
    }
    return predictor_predict(self, texts);
}

static PyMethodDef predictor_methods[] = {
    {"predict", (PyCFunction)predict_checked, METH_O,
     "predict(texts) -> (labels, probabilities): per text its best label's index and fastText's "
     "probability of it; the index is NO_LABEL where fastText returns no label, FALLBACK where "
     "only fastText can answer (a NaN on the way, a str without UTF-8)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PredictorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "filters._fastlid.Predictor",
    .tp_basicsize = sizeof(Predictor),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Predictor(entries, nwords, label_counts, dim, input, output, pruned, bucket, "
              "minn, maxn): fastText's top-1 predict for one model, from its arrays: the "
              "dictionary's entries NUL-separated (words, then labels), the labels' counts "
              "(int64), the input matrix's rows and the output matrix's first nlabels - 1 rows "
              "(float32), the pruned index as (bucket, row) int32 pairs.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)predictor_init,
    .tp_dealloc = (destructor)predictor_dealloc,
    .tp_methods = predictor_methods,
};

static struct PyModuleDef fastlid_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "filters._fastlid",
    .m_doc = "fastText's top-1 predict for hierarchical-softmax models, bit for bit.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastlid(void) {
    if (PyType_Ready(&PredictorType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&fastlid_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "NO_LABEL", NO_LABEL) < 0 ||
        PyModule_AddIntConstant(module, "FALLBACK", FALLBACK) < 0 ||
        PyModule_AddObjectRef(module, "Predictor", (PyObject *)&PredictorType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
