/* name_tmpl.h - names made from an event: literal text, strftime-style parts of the
 * event's own time (UTC) and {{ field }} substitutions, as the elasticsearch sink's `index`
 * and the s3 sink's `key_prefix` are written. Each user gives its rules (which date
 * conversions, which literal characters) and writes values with its own escaping; the
 * parsing, the date digits and the reading of a field's value are here once. */
#ifndef SL_NAME_TMPL_H
#define SL_NAME_TMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/event.h"

enum { NAME_LIT = 0, NAME_DATE, NAME_FIELD };

typedef struct name_part {
    int kind;   /* NAME_LIT, NAME_DATE (text is the conversion letter) or NAME_FIELD */
    char *text; /* owned, NUL-terminated */
    size_t len;
} name_part;

typedef struct name_tmpl {
    name_part *parts;
    size_t n;
    bool dynamic; /* has date or field parts */
    bool fields;  /* has field parts */
} name_tmpl;

typedef struct name_rules {
    const char *what;  /* the option in messages: "index", "key_prefix" */
    const char *dates; /* the letters allowed after '%' ("%" among them for "%%") */
    /* Literal characters allowed (NULL: any) and how the message names them. "%%" is a
     * literal '%' when lit_ok takes it, else a NAME_DATE part '%' the user renders. */
    bool (*lit_ok)(unsigned char c);
    const char *lit_desc;
} name_rules;

/* Compiles `s` (may be ""). Returns SL_OK, or SL_ERR_CONFIG with a message in err that
 * quotes the template. */
int name_tmpl_compile(name_tmpl *t, const char *s, const name_rules *r, char *err,
                      size_t errlen);
void name_tmpl_free(name_tmpl *t);

/* The UTC broken-down time of `sec` (1970-01-01 when out of range). */
void name_gmtime(int64_t sec, struct tm *tm);
/* Whole seconds of an event's time, rounded toward the past. */
int64_t name_event_sec(const sl_event *e);
/* Writes the digits of date conversion `conv` (Y y m d H M j) of tm into out (at least 8
 * bytes); returns their count, 0 for another letter. */
int name_date_digits(char conv, const struct tm *tm, char *out);
/* Points *v at the text of field part p in e: a string (at most max bytes), an integer or
 * bool written into num, or "unknown" when missing or of another type. Returns its length. */
size_t name_field_value(const name_part *p, const sl_event *e, size_t max, char num[32],
                        const char **v);

#endif
