/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: a saved rate-limit budget (STATE/acme/NAME/budget.json). acme_budget_parse() either refuses
 * it whole or gives a budget that the checks can read and that is written back as text that parses
 * again — never a crash or a leak. Seeds: corpus/acme-budget/. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme-budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char *const names[] = {(char *)"a.example", (char *)"b.example", NULL};
        const AcmeConfig a = {
            .name = (char *)"fuzz", .max_orders = {.set = true, .count = 2, .period = USEC_PER_HOUR}};
        usec_t now = (usec_t)1800000000 * USEC_PER_SEC;
        AcmeBudget *b = NULL, *again = NULL;
        AcmeBudgetVerdict v;
        char *text;

        if (acme_budget_parse((const char *)data, size, &b) < 0)
                return 0;
        (void)acme_budget_check(b, &a, names, false, now, &v);
        for (AcmeLimit l = 0; l < ACME_LIMIT_SERVER; l++)
                (void)acme_budget_remaining(b, &a, l, now);
        text = acme_budget_format(b, &a, 0);
        if (text) {
                assert(acme_budget_parse(text, strlen(text), &again) == 0);
                acme_budget_free(again);
                free(text);
        }
        acme_budget_free(b);
        return 0;
}
