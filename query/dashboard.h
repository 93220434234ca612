/*
 * dashboard.h - the dashboard page (dashboard.html), embedded in the binary
 * at build time (CMake turns the file into dashboard_html.c).
 */
#ifndef VG_DASHBOARD_H
#define VG_DASHBOARD_H

#include <stddef.h>

extern const char vg_dashboard_html[];
extern const size_t vg_dashboard_html_len;

#endif
