/* acks.c - ordered acknowledgement ledger.
 * Invariant: tokens form a FIFO in open order; only the done prefix is collected. */
#include "acks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common.h"

struct sl_ack_token {
    sl_ack_token *next;
    sl_ack_ledger *ledger;
    uint64_t key, value;
    int64_t opened_ms;
    atomic_int refs;
    atomic_bool done;
    atomic_bool abandoned;
};

struct sl_ack_ledger {
    pthread_mutex_t mu;
    sl_ack_token *head, *tail;
    size_t pending;
};

sl_ack_ledger *ack_ledger_new(void)
{
    sl_ack_ledger *l = sl_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void ack_ledger_free(sl_ack_ledger *l)
{
    if (!l)
        return;
    sl_ack_token *t = l->head;
    while (t) {
        sl_ack_token *n = t->next;
        free(t);
        t = n;
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

sl_ack_token *ack_token_open(sl_ack_ledger *l, uint64_t key, uint64_t value)
{
    sl_ack_token *t = sl_xmalloc(sizeof *t);
    t->next = NULL;
    t->ledger = l;
    t->key = key;
    t->value = value;
    t->opened_ms = sl_mono_ms();
    atomic_init(&t->refs, 1);
    atomic_init(&t->done, false);
    atomic_init(&t->abandoned, false);
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    l->pending++;
    pthread_mutex_unlock(&l->mu);
    return t;
}

void ack_token_retain(sl_ack_token *t) { atomic_fetch_add(&t->refs, 1); }

void ack_token_release(sl_ack_token *t)
{
    if (atomic_fetch_sub(&t->refs, 1) == 1 && !atomic_load(&t->abandoned))
        atomic_store_explicit(&t->done, true, memory_order_release);
}

void ack_token_abandon(sl_ack_token *t)
{
    atomic_store(&t->abandoned, true);
    ack_token_release(t);
}

size_t ack_ledger_collect(sl_ack_ledger *l, sl_ack_commit_fn fn, void *arg)
{
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        sl_ack_token *t = l->head;
        if (!t || !atomic_load_explicit(&t->done, memory_order_acquire)) {
            pthread_mutex_unlock(&l->mu);
            return n;
        }
        l->head = t->next;
        if (!l->head)
            l->tail = NULL;
        l->pending--;
        pthread_mutex_unlock(&l->mu);
        if (fn)
            fn(arg, t->key, t->value);
        free(t);
        n++;
    }
}

int64_t ack_ledger_oldest_ms(sl_ack_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t ms = l->head ? l->head->opened_ms : 0;
    pthread_mutex_unlock(&l->mu);
    return ms;
}

size_t ack_ledger_pending(sl_ack_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->pending;
    pthread_mutex_unlock(&l->mu);
    return n;
}
