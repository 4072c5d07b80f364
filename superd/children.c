/* SPDX-License-Identifier: MIT */
/* Running handlers by pid: an open-addressing hash table, O(1) per spawn and per reap, no fd per child. */
#include "children.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot_of(const struct child_table *t, pid_t pid)
{
        /* Fibonacci hashing: pids are sequential, this spreads them. */
        return (size_t)(((uint32_t)pid * 2654435761u) & (t->cap - 1));
}

static int grow(struct child_table *t)
{
        struct child_table n = { .cap = t->cap ? t->cap * 2 : 64 };

        n.slots = calloc(n.cap, sizeof(*n.slots));
        if (!n.slots)
                return -1;
        for (size_t i = 0; i < t->cap; i++)
                if (t->slots[i].pid) {
                        size_t j = slot_of(&n, t->slots[i].pid);
                        while (n.slots[j].pid)
                                j = (j + 1) & (n.cap - 1);
                        n.slots[j] = t->slots[i];
                        n.n++;
                }
        free(t->slots);
        *t = n;
        return 0;
}

int children_reserve(struct child_table *t)
{
        return (t->n + 1) * 2 > t->cap && grow(t) < 0 ? -ENOMEM : 0;
}

struct child *children_add(struct child_table *t, pid_t pid)
{
        size_t i;

        if (children_reserve(t) < 0)
                return NULL;
        for (i = slot_of(t, pid); t->slots[i].pid; i = (i + 1) & (t->cap - 1))
                ;
        t->slots[i] = (struct child){ .pid = pid };
        t->n++;
        return &t->slots[i];
}

struct child *children_find(const struct child_table *t, pid_t pid)
{
        if (!t->cap)
                return NULL;
        for (size_t i = slot_of(t, pid); t->slots[i].pid; i = (i + 1) & (t->cap - 1))
                if (t->slots[i].pid == pid)
                        return &t->slots[i];
        return NULL;
}

void children_remove(struct child_table *t, struct child *c)
{
        size_t mask = t->cap - 1, hole = (size_t)(c - t->slots);

        /* Backward-shift deletion keeps probe chains intact without tombstones. */
        for (size_t j = (hole + 1) & mask; t->slots[j].pid; j = (j + 1) & mask) {
                size_t home = slot_of(t, t->slots[j].pid);
                /* Move j into the hole unless its home lies cyclically in (hole, j]. */
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                        t->slots[hole] = t->slots[j];
                        hole = j;
                }
        }
        t->slots[hole] = (struct child){ 0 };
        t->n--;
}

void children_free(struct child_table *t)
{
        free(t->slots);
        *t = (struct child_table){ 0 };
}
