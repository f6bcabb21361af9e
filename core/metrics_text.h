/* metrics_text.h - the counters as Prometheus text exposition (format
   0.0.4): # HELP and # TYPE once per family, then a sample per listener
   and label value. */
#ifndef SMTPGATE_METRICS_TEXT_H
#define SMTPGATE_METRICS_TEXT_H

#include <stddef.h>

#include "counters.h"

#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A growing text; p is NUL-terminated after each write. */
struct metrics_text {
	char *p;
	size_t len, cap;
};

/* Write every family for the n listeners of views into t (emptied
   first).  Allocation failure ends the process, as everywhere. */
void metrics_text_render(struct metrics_text *t, const struct counters_view *views, size_t n);
void metrics_text_free(struct metrics_text *t);

#endif
