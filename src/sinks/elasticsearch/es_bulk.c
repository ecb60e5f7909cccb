/* es_bulk.c - streaming parser of Elasticsearch / OpenSearch _bulk responses. It reads
 * the JSON as it arrives and reports each item's status, error type and reason.
 *
 * Notes on the design
 *
 *  1. A byte-level JSON lexer with an explicit container stack (at most 64 deep) feeds a
 *     small path matcher; nothing is buffered beyond the current token, so a response
 *     of any size parses in constant memory.
 *  2. Paths that matter (depth = open containers including the root object):
 *        depth 1 key "errors"              -> p->errors
 *        depth 1 key "items"  array        -> in_items
 *        depth 3 object in items           -> one item (closed => callback)
 *        depth 4 key "status"              -> item status
 *        depth 4 key "error" (string)      -> reason (old versions)
 *        depth 5 keys "type" / "reason" under "error" -> type / reason
 *  3. Strings longer than the token buffer are truncated, never rejected; \u escapes are
 *     decoded to UTF-8 (lone surrogates to U+FFFD). Anything not JSON makes the parser
 *     fail for good; the caller then treats the whole request as not understood.
 *  4. Fast path: where an item may start, the common item of a compact (filter_path)
 *     response, {"<action>":{"status":NNN}}, is matched whole when it lies in the chunk
 *     and reported exactly as the byte-level path would (same status, empty type and
 *     reason, same state after it); anything else, an error item or an item cut by a
 *     chunk boundary, takes the byte-level path. A response of 5,000 successes costs
 *     a few dozen instructions an item instead of a lexer step per byte; a run of them,
 *     comma after comma, is matched in one loop. */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "es.h"

enum {
    S_VALUE = 0, /* a value must follow */
    S_VALUE_OR_END, /* after '[' */
    S_KEY_OR_END,   /* after '{' */
    S_KEY,          /* after ',' in an object */
    S_COLON,
    S_AFTER, /* after a value: ',' or a closer */
    S_STRING,
    S_ESC,
    S_UHEX,
    S_NUMBER,
    S_LITERAL,
    S_DONE,
};

void es_bulk_init(es_bulk_parser *p, es_bulk_item_fn fn, void *arg)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->arg = arg;
    p->errors = -1;
    p->state = S_VALUE;
}

static int fail(es_bulk_parser *p)
{
    p->failed = true;
    return -1;
}

static void tok_put(es_bulk_parser *p, unsigned char c)
{
    if (p->toklen < sizeof p->tok - 1)
        p->tok[p->toklen++] = (char)c;
}

static void tok_utf8(es_bulk_parser *p, unsigned cp)
{
    if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 0xfffd; /* surrogate halves are not paired here: replace */
    if (cp < 0x80) {
        tok_put(p, (unsigned char)cp);
    } else if (cp < 0x800) {
        tok_put(p, (unsigned char)(0xc0 | (cp >> 6)));
        tok_put(p, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        tok_put(p, (unsigned char)(0xe0 | (cp >> 12)));
        tok_put(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
        tok_put(p, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* Key of the value now being parsed inside the container at `depth`, or "". */
static const char *key_at(const es_bulk_parser *p, int depth)
{
    if (depth < 1 || depth > 5 || p->stack[depth] != '{')
        return "";
    return p->keys[depth];
}

static void copy_tok(char *dst, size_t cap, const es_bulk_parser *p)
{
    size_t n = p->toklen < cap - 1 ? p->toklen : cap - 1;
    memcpy(dst, p->tok, n);
    dst[n] = '\0';
}

/* A complete scalar (string, number or literal) at container depth p->depth. */
static void on_scalar(es_bulk_parser *p, char kind)
{
    int d = p->depth;
    const char *k = key_at(p, d);
    if (d == 1 && strcmp(k, "errors") == 0 && kind == 'l')
        p->errors = p->tok[0] == 't';
    if (!p->in_items)
        return;
    if (d == 4 && kind == 'n' && strcmp(k, "status") == 0) {
        p->tok[p->toklen] = '\0';
        long v = strtol(p->tok, NULL, 10);
        p->status = v > 0 && v < 1000 ? (int)v : 0;
    } else if (d == 4 && kind == 's' && strcmp(k, "error") == 0) {
        copy_tok(p->reason, sizeof p->reason, p);
    } else if (d == 5 && p->in_error && kind == 's') {
        if (strcmp(k, "type") == 0)
            copy_tok(p->type, sizeof p->type, p);
        else if (strcmp(k, "reason") == 0)
            copy_tok(p->reason, sizeof p->reason, p);
    }
}

static void on_key(es_bulk_parser *p)
{
    if (p->depth >= 1 && p->depth <= 5)
        copy_tok(p->keys[p->depth], sizeof p->keys[p->depth], p);
}

static int on_open(es_bulk_parser *p, char c)
{
    if (p->depth >= ES_BULK_MAX_DEPTH)
        return fail(p);
    int d = p->depth; /* parent container depth */
    const char *k = key_at(p, d);
    if (c == '[' && d == 1 && strcmp(k, "items") == 0)
        p->in_items = true;
    if (c == '{' && d == 2 && p->in_items) {
        p->status = 0;
        p->type[0] = p->reason[0] = '\0';
    }
    if (c == '{' && d == 4 && p->in_items && strcmp(k, "error") == 0)
        p->in_error = true;
    p->stack[++p->depth] = (uint8_t)c;
    if (p->depth <= 5)
        p->keys[p->depth][0] = '\0';
    return 0;
}

static int on_close(es_bulk_parser *p, char c)
{
    if (p->depth < 1 || p->stack[p->depth] != (c == '}' ? '{' : '['))
        return fail(p);
    int d = p->depth--;
    if (d == 5 && p->in_error)
        p->in_error = false;
    if (d == 3 && p->in_items && c == '}') {
        if (p->fn)
            p->fn(p->arg, p->nitems, p->status, p->type, p->reason);
        p->nitems++;
    }
    if (d == 2 && p->in_items)
        p->in_items = false;
    p->state = p->depth == 0 ? S_DONE : S_AFTER;
    return 0;
}

static bool is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Starts a value at byte c; returns 0 or -1. */
static int start_value(es_bulk_parser *p, unsigned char c)
{
    if (c == '{') {
        if (on_open(p, '{'))
            return -1;
        p->state = S_KEY_OR_END;
    } else if (c == '[') {
        if (on_open(p, '['))
            return -1;
        p->state = S_VALUE_OR_END;
    } else if (c == '"') {
        p->toklen = 0;
        p->after_str = 0;
        p->state = S_STRING;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        p->toklen = 0;
        tok_put(p, c);
        p->state = S_NUMBER;
    } else if (c == 't' || c == 'f' || c == 'n') {
        p->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        p->lit_pos = 1;
        p->toklen = 0;
        tok_put(p, c);
        p->state = S_LITERAL;
    } else {
        return fail(p);
    }
    return 0;
}

/* The first 8 bytes of a literal as one word, as a load of them reads it (folded at
 * compile time). */
static inline uint64_t word8(const char *lit)
{
    uint64_t w;
    memcpy(&w, lit, 8);
    return w;
}

/* Note 4: returns the bytes of s taken by one whole common item, or 0. Called only where
 * the byte-level path would start a value inside `items` (depth 2). */
static size_t fast_item(es_bulk_parser *p, const unsigned char *s, size_t n)
{
    static const char mid[] = "\":{\"status\":";
    const size_t midlen = sizeof mid - 1;
    size_t i = 2;
    if (n >= 25) { /* the sink's own {"create":{"status":NNN}}: two words, four bytes */
        uint64_t w0, w1;
        memcpy(&w0, s, 8);
        memcpy(&w1, s + 8, 8);
        if (w0 == word8("{\"create") && w1 == word8("\":{\"stat") &&
            memcmp(s + 16, "us\":", 4) == 0 && s[23] == '}' && s[24] == '}') {
            i = 8;
            goto mid_done;
        }
    }
    if (n < 2 || s[0] != '{' || s[1] != '"')
        return 0;
    /* The sink's own actions by one compare each (the word and its closing quote, where
     * the loop below would stop too); any other word by the loop. */
    if (n >= 9 && memcmp(s + 2, "create\"", 7) == 0)
        i = 8;
    else if (n >= 8 && memcmp(s + 2, "index\"", 6) == 0)
        i = 7;
    else
        while (i < n && i < 2 + 15 && s[i] >= 'a' && s[i] <= 'z')
            i++;
    if (i == 2 || n - i < midlen + 5 || memcmp(s + i, mid, midlen) != 0)
        return 0;
mid_done:
    i += midlen;
    const unsigned char *d = s + i;
    if (d[0] < '1' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' ||
        d[3] != '}' || d[4] != '}')
        return 0;
    p->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    p->type[0] = p->reason[0] = '\0';
    if (p->fn)
        p->fn(p->arg, p->nitems, p->status, p->type, p->reason);
    p->nitems++;
    p->state = S_AFTER; /* back at depth 2, as after the item's closing brace */
    return i + 5;
}

static void value_done(es_bulk_parser *p)
{
    p->state = p->depth == 0 ? S_DONE : S_AFTER;
}

int es_bulk_feed(es_bulk_parser *p, const char *data, size_t n)
{
    if (p->failed)
        return -1;
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        switch (p->state) {
        case S_STRING: {
            /* Fast path: copy a run of plain bytes at once. */
            size_t j = i;
            while (j < n && s[j] != '"' && s[j] != '\\' && s[j] >= 0x20)
                j++;
            if (j > i) {
                size_t room = sizeof p->tok - 1 - p->toklen;
                size_t k = j - i < room ? j - i : room;
                memcpy(p->tok + p->toklen, s + i, k);
                p->toklen += k;
                i = j;
                continue;
            }
            if (c == '"') {
                if (p->after_str == 1) { /* it was a key */
                    on_key(p);
                    p->state = S_COLON;
                } else {
                    on_scalar(p, 's');
                    value_done(p);
                }
            } else if (c == '\\') {
                p->state = S_ESC;
            } else {
                return fail(p); /* raw control character */
            }
            i++;
            continue;
        }
        case S_ESC: {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *q = c ? strchr(from, c) : NULL;
            if (q) {
                tok_put(p, (unsigned char)to[q - from]);
                p->state = S_STRING;
            } else if (c == 'u') {
                p->uhex = 0;
                p->uleft = 4;
                p->state = S_UHEX;
            } else {
                return fail(p);
            }
            i++;
            continue;
        }
        case S_UHEX: {
            int v = sl_hexval(c);
            if (v < 0)
                return fail(p);
            p->uhex = p->uhex * 16 + (unsigned)v;
            if (--p->uleft == 0) {
                tok_utf8(p, p->uhex);
                p->state = S_STRING;
            }
            i++;
            continue;
        }
        case S_NUMBER:
            if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' ||
                c == '-') {
                if (p->toklen >= 63)
                    return fail(p);
                tok_put(p, c);
                i++;
                continue;
            }
            p->tok[p->toklen] = '\0';
            {
                char *end;
                strtod(p->tok, &end);
                if (*end != '\0' || p->tok[p->toklen - 1] == '.')
                    return fail(p);
            }
            on_scalar(p, 'n');
            value_done(p);
            continue; /* c is handled in the next state */
        case S_LITERAL:
            if (p->lit[p->lit_pos] == '\0') {
                on_scalar(p, 'l');
                value_done(p);
                continue;
            }
            if (c != (unsigned char)p->lit[p->lit_pos])
                return fail(p);
            p->lit_pos++;
            tok_put(p, c);
            i++;
            continue;
        default:
            break;
        }
        if (is_ws(c)) {
            i++;
            continue;
        }
        if (c == '{' && p->depth == 2 && p->in_items &&
            (p->state == S_VALUE || p->state == S_VALUE_OR_END)) {
            size_t k = fast_item(p, s + i, n - i);
            if (k) {
                i += k;
                /* The rest of a run of them, each after its comma, without going back
                 * through the lexer: the comma does what it does there (S_AFTER in an
                 * array -> S_VALUE). */
                while (n - i >= 2 && s[i] == ',' && s[i + 1] == '{') {
                    p->state = S_VALUE;
                    i++;
                    if (!(k = fast_item(p, s + i, n - i)))
                        break;
                    i += k;
                }
                continue;
            }
        }
        switch (p->state) {
        case S_VALUE:
            if (start_value(p, c))
                return -1;
            break;
        case S_VALUE_OR_END:
            if (c == ']') {
                if (on_close(p, ']'))
                    return -1;
            } else if (start_value(p, c)) {
                return -1;
            }
            break;
        case S_KEY_OR_END:
        case S_KEY:
            if (c == '}' && p->state == S_KEY_OR_END) {
                if (on_close(p, '}'))
                    return -1;
            } else if (c == '"') {
                p->toklen = 0;
                p->after_str = 1;
                p->state = S_STRING;
            } else {
                return fail(p);
            }
            break;
        case S_COLON:
            if (c != ':')
                return fail(p);
            p->state = S_VALUE;
            break;
        case S_AFTER:
            if (c == ',') {
                p->state = p->stack[p->depth] == '{' ? S_KEY : S_VALUE;
            } else if (c == '}' || c == ']') {
                if (on_close(p, (char)c))
                    return -1;
            } else {
                return fail(p);
            }
            break;
        case S_DONE:
        default:
            return fail(p);
        }
        i++;
    }
    return 0;
}

int es_bulk_finish(es_bulk_parser *p)
{
    if (p->failed)
        return -1;
    /* A bare top-level number or literal ends at end of input. */
    if (p->state == S_NUMBER || (p->state == S_LITERAL && p->lit[p->lit_pos] == '\0'))
        return -1; /* a _bulk response is an object, never a bare scalar */
    return p->state == S_DONE ? 0 : -1;
}
