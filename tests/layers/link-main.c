/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The program each layer of agent/ is linked into alone, with only the layers below it: a call from a
 * layer to one above it has no definition there, so the link fails and the build with it. */
int main(void) {
        return 0;
}
