/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "check.h"

/* Presenting a CheckReport: the JSON object of DESIGN.md §4 (contract), the plain lines of `check` and
 * the table of `status`. Writes to `f` only; returns 0 or -errno. */

int report_json(const CheckReport *rep, FILE *f);
int report_lines(const CheckReport *rep, FILE *f);
int report_table(const CheckReport *rep, FILE *f, bool color);
