/* A CSV reader for the common case, in C: pieces of whole records -> Arrow string-view columns.

   records(data, columns, max_rows, null_literals, decimal_columns, scale, integer_digits,
           dictionary_columns) parses `data` (whole CSV records, no header) into `columns` text
   columns and returns

       (rows, views, validities, null_counts, unescaped, decimals, dictionaries, line_breaks)

   views[c]      bytes, 16 per row: Arrow's string view of each field (the field itself when it
                 has up to 12 bytes, else its length, first 4 bytes, buffer and offset);
   validities[c] bytes (a validity bitmap) or None when the column has no null;
   unescaped     bytes: buffer 1, the quoted fields that held doubled quotes, undoubled.
                 Buffer 0 is `data` itself: every other field is read where it lies.
   line_breaks   bytes, a little-endian uint32 a row: the line breaks inside the record's quoted
                 fields (so that line numbers can be counted); None when there are none.

   or None when the piece holds anything outside the plain grammar below. The caller then parses
   the piece with polars' reader, which gives the same frame (or its own error) for anything:
   this reader never decides an odd case, it only declines it. It accepts exactly:

     record  = field *("," field) ("\n" | "\r\n" | end of data), with `columns` fields;
     field   = *(any byte but , " \r \n)              empty: null
             | '"' *(any byte but " | '""') '"'       empty: "" (polars' reading of "")
     and data that is valid UTF-8, under 2 GiB.

   With null_literals, a field that reads NULL, null or Null (quoted or not) is null, as polars'
   null_values does.

   decimals[k] types the column decimal_columns[k] as Arrow decimal128(38, scale): (values,
   validity, null_count), values 16 bytes a row, little-endian. A value is typed when its text is
   a number, [+-]?([0-9]+(.[0-9]*)?|.[0-9]+)([eE][+-]?[0-9]+)?, whose exact value has at most
   `scale` decimals (1.23E-8, 1.2300000000000 and 12.5 do; 0.12345678901 does not) and at most
   `integer_digits` digits before the point. Any other value is null in the validity as well as
   a null text, and the caller decides it (spaces, excess decimals, bad values: normalize.py). A
   typed value is exact: the same as polars' cast and Python's Decimal give. decimals[k] is None
   where no 128-bit integer is at hand.

   dictionaries[k], for the column dictionary_columns[k], is (keys, values, count): keys bytes, a
   little-endian uint32 a row, the index among the values of the row's value, 0 on a null row;
   values bytes, the string views (as in views[c]) of each distinct non-null value once, in the
   order the rows bring them, `count` of them; or None when the column is null on every row or
   holds more than DICTIONARY_LIMIT distinct values.

   The GIL is released while the piece is parsed. counts(data) gives (quote characters, line
   breaks) for the cutting of pieces. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define VIEW_BYTES 16
#define INLINE_BYTES 12

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LITTLE_ENDIAN_WORDS 1
#else
#define LITTLE_ENDIAN_WORDS 0
#endif

/* Decimals are typed here where a 128-bit integer is native and laid out as Arrow's (little-endian). */
#if defined(__SIZEOF_INT128__) && LITTLE_ENDIAN_WORDS
#define TYPES_DECIMALS 1
typedef __int128 decimal128;
#else
#define TYPES_DECIMALS 0
#endif

/* The first of s[i..n) that is one of the bytes a, b, c, d, or n. */
static inline Py_ssize_t find4(const uint8_t *s, Py_ssize_t i, Py_ssize_t n, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b), vc = _mm_set1_epi8((char)c),
                  vd = _mm_set1_epi8((char)d);
    for (; i + 16 <= n; i += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, va), _mm_cmpeq_epi8(chunk, vb)),
                                   _mm_or_si128(_mm_cmpeq_epi8(chunk, vc), _mm_cmpeq_epi8(chunk, vd)));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return i + __builtin_ctz(mask);
    }
#endif
    for (; i < n; i++) {
        if (s[i] == a || s[i] == b || s[i] == c || s[i] == d) return i;
    }
    return n;
}

static inline Py_ssize_t find_quote(const uint8_t *s, Py_ssize_t i, Py_ssize_t n) {
    return find4(s, i, n, '"', '"', '"', '"');
}

static int valid_utf8(const uint8_t *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {  /* ASCII, eight bytes at a time */
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t lead = s[i];
        if (lead < 0x80) { i++; continue; }
        int follow;
        uint32_t point;
        if (lead >= 0xC2 && lead <= 0xDF) { follow = 1; point = lead & 0x1F; }
        else if (lead >= 0xE0 && lead <= 0xEF) { follow = 2; point = lead & 0x0F; }
        else if (lead >= 0xF0 && lead <= 0xF4) { follow = 3; point = lead & 0x07; }
        else return 0;
        if (i + follow >= n) return 0;
        for (int k = 1; k <= follow; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            point = (point << 6) | (s[i + k] & 0x3F);
        }
        if (follow == 2 && (point < 0x800 || (point >= 0xD800 && point <= 0xDFFF))) return 0;  /* overlong, surrogate */
        if (follow == 3 && (point < 0x10000 || point > 0x10FFFF)) return 0;
        i += follow + 1;
    }
    return 1;
}

static inline int is_null_literal(const uint8_t *field, Py_ssize_t length) {
    return length == 4 && (memcmp(field, "NULL", 4) == 0 || memcmp(field, "null", 4) == 0 || memcmp(field, "Null", 4) == 0);
}

/* A column's distinct values, as the reader meets them: each row gets the index of its value
   (its key), and the values are listed once. The typing maps a few distinct values (timestamps,
   tags) instead of hashing every row again. Open addressing over a power-of-two table; a row
   equal to the row before (the common case) is found without hashing. Allocated with the raw
   allocator: it runs without the GIL. */
#define DICTIONARY_LIMIT 65536 /* more distinct values in one piece: no dictionary for the column */

typedef struct Dictionary {
    uint32_t *keys;              /* per row (the caller's buffer) */
    uint32_t *table;             /* capacity slots: 0 empty, else entry + 1 */
    Py_ssize_t capacity;
    const uint8_t **starts;      /* per entry: its bytes (in the data or the undoubled buffer) */
    uint32_t *rows;              /* per entry: the first row that holds it, whose view it shares */
    uint32_t *lengths;
    uint64_t *hashes;
    Py_ssize_t count, allocated;
    Py_ssize_t last;             /* the entry of the previous non-null row, or -1 */
    int given_up;                /* too many distinct values, or out of memory */
} Dictionary;

static inline uint64_t hash_bytes(const uint8_t *p, Py_ssize_t length) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)length, word;
    Py_ssize_t i = 0;
    for (; i + 8 <= length; i += 8) {
        memcpy(&word, p + i, 8);
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    word = 0;
    memcpy(&word, p + i, (size_t)(length - i));
    h = (h ^ word) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

static int dictionary_grow(Dictionary *d) {
    Py_ssize_t capacity = d->capacity ? d->capacity * 2 : 1024;
    uint32_t *table = PyMem_RawCalloc(capacity, sizeof(uint32_t));
    if (!table) return 0;
    for (Py_ssize_t e = 0; e < d->count; e++) {
        Py_ssize_t slot = (Py_ssize_t)(d->hashes[e] & (uint64_t)(capacity - 1));
        while (table[slot]) slot = (slot + 1) & (capacity - 1);
        table[slot] = (uint32_t)(e + 1);
    }
    PyMem_RawFree(d->table);
    d->table = table;
    d->capacity = capacity;
    return 1;
}

/* The key of the field's value (of `row`), adding the value if new; -1 when the column gives up. */
static Py_ssize_t dictionary_key(Dictionary *d, const uint8_t *field, Py_ssize_t length, Py_ssize_t row) {
    if (d->last >= 0 && d->lengths[d->last] == (uint32_t)length && memcmp(d->starts[d->last], field, length) == 0)
        return d->last;
    if (2 * (d->count + 1) > d->capacity && !dictionary_grow(d)) return -1;
    uint64_t h = hash_bytes(field, length);
    Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)(d->capacity - 1));
    for (; d->table[slot]; slot = (slot + 1) & (d->capacity - 1)) {
        Py_ssize_t e = d->table[slot] - 1;
        if (d->hashes[e] == h && d->lengths[e] == (uint32_t)length && memcmp(d->starts[e], field, length) == 0)
            return d->last = e;
    }
    if (d->count == DICTIONARY_LIMIT) return -1;
    if (d->count == d->allocated) {
        Py_ssize_t allocated = d->allocated ? d->allocated * 2 : 256;
        const uint8_t **starts = PyMem_RawRealloc(d->starts, allocated * sizeof(*starts));
        if (starts) d->starts = starts;
        uint32_t *lengths = PyMem_RawRealloc(d->lengths, allocated * sizeof(*lengths));
        if (lengths) d->lengths = lengths;
        uint64_t *hashes = PyMem_RawRealloc(d->hashes, allocated * sizeof(*hashes));
        if (hashes) d->hashes = hashes;
        uint32_t *rows = PyMem_RawRealloc(d->rows, allocated * sizeof(*rows));
        if (rows) d->rows = rows;
        if (!starts || !lengths || !hashes || !rows) return -1;
        d->allocated = allocated;
    }
    Py_ssize_t e = d->count++;
    d->starts[e] = field;
    d->lengths[e] = (uint32_t)length;
    d->hashes[e] = h;
    d->rows[e] = (uint32_t)row;
    d->table[slot] = (uint32_t)(e + 1);
    return d->last = e;
}

static void dictionary_free(Dictionary *d) {
    PyMem_RawFree(d->table);
    PyMem_RawFree((void *)d->starts);
    PyMem_RawFree(d->lengths);
    PyMem_RawFree(d->hashes);
    PyMem_RawFree(d->rows);
}

typedef struct {
    const uint8_t *data;
    Py_ssize_t size;
    Py_ssize_t columns, max_rows;
    int null_literals;
    uint8_t **views, **validity;  /* per column */
    Py_ssize_t *nulls;            /* per column */
    uint8_t *unescaped;           /* buffer 1 */
    Py_ssize_t unescaped_size, unescaped_capacity;
    uint32_t *line_breaks;        /* per row: line breaks inside its quoted fields */
    int any_line_breaks;
    Py_ssize_t *decimal_slot;     /* per column: its index in decimals, or -1 */
    uint8_t **decimals;           /* per decimal column: 16 bytes a row */
    uint8_t **decimal_validity;   /* per decimal column: set where a value was typed */
    Py_ssize_t *decimal_nulls;    /* per decimal column: rows not typed (null text or left to the caller) */
    int scale, integer_digits;
    Py_ssize_t *dictionary_slot;  /* per column: its index in dictionaries, or -1 */
    struct Dictionary *dictionaries;
} Reader;

#if TYPES_DECIMALS
static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* A number as an integer count of 10^-scale, into `out`, when its exact value has at most `scale`
   decimals and at most `integer_digits` digits before the point; 0 for anything else (see the
   top of the file). Its digits d1..dn (before and after the point) read as an integer D give
   the value D x 10^(exponent - digits after the point), so the count is D x 10^shift with
   shift = exponent - digits after the point + scale: with a negative shift the last -shift
   digits are dropped, and must be zeros. */
static int exact_decimal(const uint8_t *p, Py_ssize_t length, int scale, int integer_digits, decimal128 *out) {
    const uint8_t *end = p + length;
    int negative = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) p++;
    const uint8_t *whole = p;
    while (p < end && is_digit(*p)) p++;
    Py_ssize_t whole_digits = p - whole, fraction_digits = 0;
    const uint8_t *fraction = p;
    if (p < end && *p == '.') {
        fraction = ++p;
        while (p < end && is_digit(*p)) p++;
        fraction_digits = p - fraction;
    }
    if (whole_digits + fraction_digits == 0) return 0;
    long exponent = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int exponent_negative = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+')) p++;
        const uint8_t *exponent_digits = p;
        for (; p < end && is_digit(*p); p++) {
            if (p - exponent_digits == 6) return 0;  /* a far exponent: left to the caller */
            exponent = exponent * 10 + (*p - '0');
        }
        if (p == exponent_digits) return 0;
        if (exponent_negative) exponent = -exponent;
    }
    if (p != end) return 0;
    Py_ssize_t digits = whole_digits + fraction_digits;
    long shift = exponent - (long)fraction_digits + scale;
    Py_ssize_t kept = shift < 0 ? digits + shift : digits;  /* the digits after these must be zeros */
    int significant = 0, most = integer_digits + scale;
    decimal128 value = 0;  /* at most integer_digits + scale <= 38 digits: never overflows */
    for (Py_ssize_t i = 0; i < digits; i++) {
        uint8_t digit = i < whole_digits ? whole[i] : fraction[i - whole_digits];
        if (i >= kept) {
            if (digit != '0') return 0;  /* more decimals than the scale keeps */
            continue;
        }
        if (significant == 0 && digit == '0') continue;  /* leading zeros */
        if (++significant > most) return 0;
        value = value * 10 + (digit - '0');
    }
    if (shift > 0 && significant > 0) {
        if (significant + shift > most) return 0;
        for (long k = 0; k < shift; k++) value *= 10;
    }
    *out = negative ? -value : value;
    return 1;
}
#endif

/* The bytes of a field of up to 12 bytes into a view, zero-padded. Two fixed-size loads and a
   mask where 16 bytes can be read (within the field's buffer, which ends at `end`): a
   variable-length memcpy here was a fifth of the parser's time. */
static inline void inline_field(uint8_t *out, const uint8_t *field, Py_ssize_t length, const uint8_t *end) {
    if (end - field >= 16 && LITTLE_ENDIAN_WORDS) {
        uint64_t low, high;
        memcpy(&low, field, 8);
        memcpy(&high, field + 8, 8);
        if (length < 8) {
            low &= (UINT64_C(1) << (8 * length)) - 1;
            high = 0;
        } else {
            high &= (UINT64_C(1) << (8 * (length - 8))) - 1;  /* length - 8 <= 4 */
        }
        uint32_t high32 = (uint32_t)high;
        memcpy(out, &low, 8);
        memcpy(out + 8, &high32, 4);
        return;
    }
    memset(out, 0, INLINE_BYTES);
    for (Py_ssize_t k = 0; k < length; k++) out[k] = field[k];
}

static inline void decimal_null(Reader *r, Py_ssize_t slot, Py_ssize_t row) {
    memset(r->decimals[slot] + row * 16, 0, 16);
    r->decimal_validity[slot][row >> 3] &= (uint8_t)~(1u << (row & 7));
    r->decimal_nulls[slot]++;
}

/* Parse every record; the number of rows, or -1 to decline the piece. */
static Py_ssize_t parse(Reader *r) {
    const uint8_t *s = r->data;
    const Py_ssize_t n = r->size;
    Py_ssize_t i = 0, row = 0;
    while (i < n) {
        if (row == r->max_rows) return -1;
        for (Py_ssize_t column = 0;; column++) {
            if (column == r->columns) return -1;  /* more fields than columns */
            const uint8_t *field;
            Py_ssize_t length, offset;
            int32_t buffer = 0, quoted = 0;
            if (s[i] == '"') {
                quoted = 1;
                Py_ssize_t start = i + 1, close = start;
                int doubled = 0;
                for (;;) {
                    close = find_quote(s, close, n);
                    if (close == n) return -1;
                    if (close + 1 < n && s[close + 1] == '"') { doubled = 1; close += 2; continue; }
                    break;
                }
                if (doubled) {  /* undouble into buffer 1, a run (ending with a quote) at a time */
                    offset = r->unescaped_size;
                    for (Py_ssize_t k = start; k < close;) {
                        Py_ssize_t quote = find_quote(s, k, close);
                        Py_ssize_t run = (quote < close ? quote + 1 : close) - k;
                        memcpy(r->unescaped + r->unescaped_size, s + k, run);
                        r->unescaped_size += run;
                        k += run + (quote < close ? 1 : 0);
                    }
                    field = r->unescaped + offset;
                    length = r->unescaped_size - offset;
                    buffer = 1;
                } else {
                    field = s + start;
                    length = close - start;
                    offset = start;
                }
                if (memchr(s + start, '\n', (size_t)(close - start))) {  /* a field of several lines */
                    for (Py_ssize_t k = start; k < close; k++) r->line_breaks[row] += s[k] == '\n';
                    r->any_line_breaks = 1;
                }
                i = close + 1;
                if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n') i++;
                if (i < n && s[i] != ',' && s[i] != '\n') return -1;  /* text after the closing quote */
            } else {
                Py_ssize_t end = find4(s, i, n, ',', '\n', '"', '\r');
                if (end < n && s[end] == '"') return -1;  /* a quote inside an unquoted field */
                field = s + i;
                offset = i;
                length = end - i;
                if (end < n && s[end] == '\r') {  /* only as the end of the record, \r\n */
                    if (end + 1 == n || s[end + 1] != '\n') return -1;
                    end++;
                }
                i = end;
            }

            uint8_t *view = r->views[column] + row * VIEW_BYTES;
            if ((!quoted && length == 0) || (r->null_literals && is_null_literal(field, length))) {
                memset(view, 0, VIEW_BYTES);
                Py_ssize_t slot = r->decimal_slot[column];
                if (slot >= 0 && r->decimals[slot]) decimal_null(r, slot, row);
                r->validity[column][row >> 3] &= (uint8_t)~(1u << (row & 7));
                r->nulls[column]++;
                Py_ssize_t dslot = r->dictionary_slot[column];
                if (dslot >= 0) r->dictionaries[dslot].keys[row] = 0;
            } else {
                int32_t length32 = (int32_t)length;
                memcpy(view, &length32, 4);
                if (length <= INLINE_BYTES) {
                    const uint8_t *end = buffer ? r->unescaped + r->unescaped_capacity : s + n;
                    inline_field(view + 4, field, length, end);
                } else {
                    int32_t offset32 = (int32_t)offset;
                    memcpy(view + 4, field, 4);
                    memcpy(view + 8, &buffer, 4);
                    memcpy(view + 12, &offset32, 4);
                }
                Py_ssize_t dslot = r->dictionary_slot[column];
                if (dslot >= 0 && !r->dictionaries[dslot].given_up) {
                    Dictionary *d = &r->dictionaries[dslot];
                    Py_ssize_t key = dictionary_key(d, field, length, row);
                    if (key < 0) d->given_up = 1;  /* the caller finds this column's values itself */
                    else d->keys[row] = (uint32_t)key;
                }
#if TYPES_DECIMALS
                Py_ssize_t slot = r->decimal_slot[column];
                if (slot >= 0 && r->decimals[slot]) {
                    decimal128 value;
                    if (exact_decimal(field, length, r->scale, r->integer_digits, &value))
                        memcpy(r->decimals[slot] + row * 16, &value, 16);
                    else
                        decimal_null(r, slot, row);  /* the caller decides this value */
                }
#endif
            }

            if (i == n) {  /* the last record, without a line break */
                if (column + 1 != r->columns) return -1;
                break;
            }
            if (s[i] == ',') {
                i++;
                if (i == n) return -1;  /* a trailing comma at the end of the data */
                continue;
            }
            i++;  /* the line break */
            if (column + 1 != r->columns) return -1;  /* fewer fields than columns, or a blank line */
            break;
        }
        row++;
    }
    return row;
}

/* Per column, its position in the tuple of column numbers `listed`, or -1; NULL with an error
   set on a number out of range, repeated, or out of memory. */
static Py_ssize_t *column_slots(PyObject *listed, Py_ssize_t columns) {
    Py_ssize_t *slots = PyMem_Malloc(columns * sizeof(Py_ssize_t));
    if (!slots) return NULL;
    for (Py_ssize_t c = 0; c < columns; c++) slots[c] = -1;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(listed); k++) {
        Py_ssize_t c = PyLong_AsSsize_t(PyTuple_GET_ITEM(listed, k));
        if (c == -1 && PyErr_Occurred()) break;
        if (c < 0 || c >= columns || slots[c] >= 0) {
            PyErr_SetString(PyExc_ValueError, "column number out of range or repeated");
            break;
        }
        slots[c] = k;
    }
    if (PyErr_Occurred()) {
        PyMem_Free(slots);
        return NULL;
    }
    return slots;
}

static PyObject *records(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t columns, max_rows;
    int null_literals, scale, integer_digits;
    PyObject *decimal_columns, *dictionary_columns;
    if (!PyArg_ParseTuple(args, "y*nnpO!iiO!", &data, &columns, &max_rows, &null_literals, &PyTuple_Type,
                          &decimal_columns, &scale, &integer_digits, &PyTuple_Type, &dictionary_columns))
        return NULL;
    PyObject *result = NULL, **views = NULL, **validity = NULL, *unescaped = NULL, **decimals = NULL;
    PyObject **decimal_validity = NULL;
    PyObject **keys = NULL, *dictionary_list = NULL;
    Py_ssize_t decimal_count = PyTuple_GET_SIZE(decimal_columns);
    Py_ssize_t dictionary_count = PyTuple_GET_SIZE(dictionary_columns);
    Reader r = {.data = data.buf, .size = data.len, .columns = columns, .max_rows = max_rows, .null_literals = null_literals,
                .scale = scale, .integer_digits = integer_digits};
    if (data.len == 0 || data.len >= INT32_MAX || columns < 1 || max_rows < 1 || scale < 0 || scale > 18 ||
        integer_digits < 1 || integer_digits + scale > 38) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t bitmap = (max_rows + 7) / 8;
    decimals = PyMem_Calloc(decimal_count + 1, sizeof(PyObject *));
    decimal_validity = PyMem_Calloc(decimal_count + 1, sizeof(PyObject *));
    r.decimals = PyMem_Calloc(decimal_count + 1, sizeof(uint8_t *));
    r.decimal_validity = PyMem_Calloc(decimal_count + 1, sizeof(uint8_t *));
    r.decimal_nulls = PyMem_Calloc(decimal_count + 1, sizeof(Py_ssize_t));
    r.decimal_slot = column_slots(decimal_columns, columns);
    if (!decimals || !decimal_validity || !r.decimals || !r.decimal_validity || !r.decimal_nulls || !r.decimal_slot)
        goto fail;
    for (Py_ssize_t k = 0; k < decimal_count; k++) {
        if (TYPES_DECIMALS) {
            decimals[k] = PyBytes_FromStringAndSize(NULL, max_rows * 16);
            decimal_validity[k] = PyBytes_FromStringAndSize(NULL, bitmap);
            if (!decimals[k] || !decimal_validity[k]) goto fail;
            r.decimals[k] = (uint8_t *)PyBytes_AS_STRING(decimals[k]);
            r.decimal_validity[k] = (uint8_t *)PyBytes_AS_STRING(decimal_validity[k]);
            memset(r.decimal_validity[k], 0xFF, bitmap);
        }
    }
    keys = PyMem_Calloc(dictionary_count + 1, sizeof(PyObject *));
    r.dictionaries = PyMem_Calloc(dictionary_count + 1, sizeof(Dictionary));
    r.dictionary_slot = column_slots(dictionary_columns, columns);
    if (!keys || !r.dictionaries || !r.dictionary_slot) goto fail;
    for (Py_ssize_t k = 0; k < dictionary_count; k++) {
        keys[k] = PyBytes_FromStringAndSize(NULL, max_rows * 4);
        if (!keys[k]) goto fail;
        r.dictionaries[k].keys = (uint32_t *)PyBytes_AS_STRING(keys[k]);
        r.dictionaries[k].last = -1;
    }
    views = PyMem_Calloc(columns, sizeof(PyObject *));
    validity = PyMem_Calloc(columns, sizeof(PyObject *));
    r.views = PyMem_Calloc(columns, sizeof(uint8_t *));
    r.validity = PyMem_Calloc(columns, sizeof(uint8_t *));
    r.nulls = PyMem_Calloc(columns, sizeof(Py_ssize_t));
    r.line_breaks = PyMem_Calloc(max_rows, sizeof(uint32_t));
    /* Undoubling only shortens a field: the data's size is enough. */
    unescaped = PyBytes_FromStringAndSize(NULL, data.len);
    if (!views || !validity || !r.views || !r.validity || !r.nulls || !r.line_breaks || !unescaped) goto fail;
    r.unescaped = (uint8_t *)PyBytes_AS_STRING(unescaped);
    r.unescaped_capacity = data.len;
    for (Py_ssize_t c = 0; c < columns; c++) {
        views[c] = PyBytes_FromStringAndSize(NULL, max_rows * VIEW_BYTES);
        validity[c] = PyBytes_FromStringAndSize(NULL, bitmap);
        if (!views[c] || !validity[c]) goto fail;
        r.views[c] = (uint8_t *)PyBytes_AS_STRING(views[c]);
        r.validity[c] = (uint8_t *)PyBytes_AS_STRING(validity[c]);
        memset(r.validity[c], 0xFF, bitmap);
    }

    Py_ssize_t rows;
    int valid;
    Py_BEGIN_ALLOW_THREADS
    valid = valid_utf8(r.data, r.size);
    rows = valid ? parse(&r) : -1;
    Py_END_ALLOW_THREADS
    if (rows < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* Each distinct value's view is that of the first row holding it. */
    dictionary_list = PyList_New(dictionary_count);
    if (!dictionary_list) goto fail;
    for (Py_ssize_t k = 0; k < dictionary_count; k++) {
        Dictionary *d = &r.dictionaries[k];
        if (d->given_up || d->count == 0) {
            PyList_SET_ITEM(dictionary_list, k, Py_NewRef(Py_None));
            continue;
        }
        Py_ssize_t column = PyLong_AsSsize_t(PyTuple_GET_ITEM(dictionary_columns, k));  /* checked: column_slots */
        PyObject *values = PyBytes_FromStringAndSize(NULL, d->count * VIEW_BYTES);
        if (!values) goto fail;
        uint8_t *value_views = (uint8_t *)PyBytes_AS_STRING(values);
        for (Py_ssize_t e = 0; e < d->count; e++)
            memcpy(value_views + e * VIEW_BYTES, r.views[column] + (Py_ssize_t)d->rows[e] * VIEW_BYTES, VIEW_BYTES);
        PyList_SET_ITEM(dictionary_list, k, Py_BuildValue("(ONn)", keys[k], values, d->count));
        if (!PyList_GET_ITEM(dictionary_list, k)) goto fail;
    }
    if (_PyBytes_Resize(&unescaped, r.unescaped_size) < 0) goto fail;  /* frees it on failure */
    PyObject *view_list = PyList_New(columns), *validity_list = PyList_New(columns), *null_list = PyList_New(columns);
    if (!view_list || !validity_list || !null_list) {
        Py_XDECREF(view_list); Py_XDECREF(validity_list); Py_XDECREF(null_list);
        goto fail;
    }
    for (Py_ssize_t c = 0; c < columns; c++) {
        PyList_SET_ITEM(view_list, c, views[c]);
        views[c] = NULL;
        if (r.nulls[c]) {
            PyList_SET_ITEM(validity_list, c, validity[c]);
            validity[c] = NULL;
        } else {
            PyList_SET_ITEM(validity_list, c, Py_NewRef(Py_None));
        }
        PyList_SET_ITEM(null_list, c, PyLong_FromSsize_t(r.nulls[c]));
    }
    PyObject *decimal_list = PyList_New(decimal_count);
    if (!decimal_list) {
        Py_DECREF(view_list); Py_DECREF(validity_list); Py_DECREF(null_list);
        goto fail;
    }
    for (Py_ssize_t k = 0; k < decimal_count; k++) {
        PyObject *typed = Py_None;
        if (r.decimals[k]) {
            typed = Py_BuildValue("(NOn)", decimals[k], r.decimal_nulls[k] ? decimal_validity[k] : Py_None,
                                  r.decimal_nulls[k]);
            decimals[k] = NULL;  /* the tuple holds it now, or it was freed with the failure */
            if (!typed) {
                Py_DECREF(view_list); Py_DECREF(validity_list); Py_DECREF(null_list); Py_DECREF(decimal_list);
                goto fail;
            }
        } else {
            Py_INCREF(typed);
        }
        PyList_SET_ITEM(decimal_list, k, typed);
    }
    PyObject *line_breaks = r.any_line_breaks
        ? PyBytes_FromStringAndSize((const char *)r.line_breaks, rows * (Py_ssize_t)sizeof(uint32_t)) : Py_NewRef(Py_None);
    if (!line_breaks) {
        Py_DECREF(view_list); Py_DECREF(validity_list); Py_DECREF(null_list); Py_DECREF(decimal_list);
        goto fail;
    }
    result = Py_BuildValue("(nNNNNNNN)", rows, view_list, validity_list, null_list, unescaped, decimal_list,
                           dictionary_list, line_breaks);
    unescaped = NULL;
    dictionary_list = NULL;
    goto done;
fail:
    if (!PyErr_Occurred()) PyErr_NoMemory();
    result = NULL;
done:
    if (views) for (Py_ssize_t c = 0; c < columns; c++) Py_XDECREF(views[c]);
    if (validity) for (Py_ssize_t c = 0; c < columns; c++) Py_XDECREF(validity[c]);
    if (decimals) for (Py_ssize_t k = 0; k < decimal_count; k++) Py_XDECREF(decimals[k]);
    if (decimal_validity) for (Py_ssize_t k = 0; k < decimal_count; k++) Py_XDECREF(decimal_validity[k]);
    Py_XDECREF(unescaped);
    if (keys) for (Py_ssize_t k = 0; k < dictionary_count; k++) Py_XDECREF(keys[k]);
    if (r.dictionaries) for (Py_ssize_t k = 0; k < dictionary_count; k++) dictionary_free(&r.dictionaries[k]);
    Py_XDECREF(dictionary_list);
    PyMem_Free(keys);
    PyMem_Free(r.dictionaries);
    PyMem_Free(r.dictionary_slot);
    PyMem_Free(decimals);
    PyMem_Free(decimal_validity);
    PyMem_Free(r.decimals);
    PyMem_Free(r.decimal_validity);
    PyMem_Free(r.decimal_nulls);
    PyMem_Free(r.decimal_slot);
    PyMem_Free(views);
    PyMem_Free(validity);
    PyMem_Free(r.views);
    PyMem_Free(r.validity);
    PyMem_Free(r.nulls);
    PyMem_Free(r.line_breaks);
    PyBuffer_Release(&data);
    return result;
}

/* The set bits of a 16-bit mask (without -mpopcnt, __builtin_popcount is a library call). */
static inline Py_ssize_t bits16(unsigned int x) {
    x = x - ((x >> 1) & 0x5555u);
    x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
    x = (x + (x >> 4)) & 0x0F0Fu;
    return (x + (x >> 8)) & 0x1Fu;
}

/* counts(data) -> (quote characters, line breaks): both in one pass, without the GIL (the
   splitting thread counts the next piece while the parser runs). */
static PyObject *counts(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const uint8_t *s = data.buf;
    Py_ssize_t n = data.len, i = 0, quotes = 0, breaks = 0;
    Py_BEGIN_ALLOW_THREADS
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), line_break = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(s + i));
        quotes += bits16(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, quote)));
        breaks += bits16(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, line_break)));
    }
#endif
    for (; i < n; i++) {
        quotes += s[i] == '"';
        breaks += s[i] == '\n';
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return Py_BuildValue("(nn)", quotes, breaks);
}

static PyMethodDef methods[] = {
    {"records", records, METH_VARARGS, "Parse whole CSV records into string-view columns, or None (see the file)."},
    {"counts", counts, METH_VARARGS, "(quote characters, line breaks) in a bytes-like object."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_records", NULL, -1, methods};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
