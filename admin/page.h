/*
 * The status page that GET / answers: admin/page.html, one self-contained HTML document (its
 * style and script inline, no other asset), compiled in at build time (admin/embed.cmake). In a
 * browser it reads GET /status every few seconds with fetch().
 */
#ifndef S3LB_ADMIN_PAGE_H
#define S3LB_ADMIN_PAGE_H

#include <stddef.h>

extern const char adm_page_html[]; /* NUL-terminated */
extern const size_t adm_page_html_len;

#endif
