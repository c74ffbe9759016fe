/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "check.h"

/* Presenting a CheckReport: the JSON object of docs/json.md (contract), the plain lines of `check` and
 * the table of `status`. Writes to `f` only; returns 0 or -errno. */

int report_json(const CheckReport *rep, FILE *f);
int report_lines(const CheckReport *rep, FILE *f);
int report_table(const CheckReport *rep, FILE *f, bool color);

/* `check --format nagios`: one line in the monitoring-plugins format,
 *   CERTHERD OK|WARNING|CRITICAL - summary | 'name'=Nd;W;C ...
 * with the days left of each set and its warn-before/critical-before in days as perfdata ('name'=U;W;C
 * when the certificate cannot be read). */
int report_nagios(const Inventory *inv, const CheckReport *rep, FILE *f);
