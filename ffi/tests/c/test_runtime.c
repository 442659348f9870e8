/* The concurrent runtime through the C ABI: a runtime started from the
 * fixture's exchange, register and ledger (which answer IN_USE meanwhile);
 * several pthreads, each with its own producer, submitting signed orders
 * with tiny capacities (FULL statuses, retried, nothing lost); every request
 * answered exactly once with a batch-signed answer that verifies with the
 * exchange's key; a refusal by the verification stage; a callback
 * producer; best bid/ask, depth and the market event stream; queued and
 * callback notifications; shutdown draining and giving the handles back;
 * trusted-gateway mode; and bad input to every runtime export. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include "fixture.h"

#define PER_THREAD 40

/* Investor i's GTC limit order signed with `key` (wire bytes, malloc'd). */
static uint8_t *signed_order(world *w, int i, const kbk_keypair *key, uint8_t side, int64_t price,
                             uint64_t qty, const kbk_message *const *certs, size_t ncerts,
                             size_t *len) {
  return signed_order_tif(w, i, key, side, price, qty, KBK_TIF_GTC, 0, certs, ncerts, len);
}

static void pause_briefly(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

typedef struct {
  const kbk_runtime *rt;
  const uint8_t *ex_pk;
  uint8_t *bytes[PER_THREAD];
  size_t len[PER_THREAD];
  /* results */
  int fulls, answers, receipts, verified, bad;
  uint8_t seen[PER_THREAD + 1];
} job;

/* Checks one response and its answer; frees the answer. */
static void take(job *j, const kbk_response *r, kbk_message *answer) {
  uint8_t kind = 0;
  j->answers++;
  if (r->ticket < 1 || r->ticket > PER_THREAD || j->seen[r->ticket]++) j->bad++;
  if (!answer || !r->has_answer) j->bad++;
  if (answer && kbk_message_verify(answer, j->ex_pk) == KBK_STATUS_OK) j->verified++;
  if (answer && kbk_message_kind(answer, &kind) == KBK_STATUS_OK &&
      kind == KBK_KIND_RECEPTION_RECEIPT && r->refusal == 0 && r->has_sequence &&
      r->reception_number > 0)
    j->receipts++;
  kbk_message_free(answer);
}

static void drain_responses(job *j, kbk_producer *p) {
  kbk_response r;
  kbk_message *a = NULL;
  while (kbk_producer_try_recv(p, &r, &a) == KBK_STATUS_OK) take(j, &r, a);
}

static void *producer_thread(void *arg) {
  job *j = (job *)arg;
  kbk_producer *p = NULL;
  if (kbk_runtime_producer_new(j->rt, 3, NULL, NULL, &p) != KBK_STATUS_OK) {
    j->bad++;
    return NULL;
  }
  for (int k = 0; k < PER_THREAD; k++) {
    uint64_t ticket = 0;
    for (;;) {
      kbk_status s = kbk_producer_submit(p, j->bytes[k], j->len[k], &ticket);
      if (s == KBK_STATUS_OK) break;
      if (s != KBK_STATUS_RUNTIME_FULL) {
        j->bad++;
        break;
      }
      j->fulls++;
      drain_responses(j, p);
      sched_yield();
    }
    if (ticket != (uint64_t)k + 1) j->bad++;
  }
  for (int spins = 0; j->answers < PER_THREAD && spins < 100000; spins++) {
    kbk_response r;
    kbk_message *a = NULL;
    kbk_status s = kbk_producer_recv_timeout(p, 1000000, &r, &a);
    if (s == KBK_STATUS_OK) take(j, &r, a);
    else if (s != KBK_STATUS_NOT_FOUND) j->bad++;
  }
  size_t in_flight = 99;
  if (kbk_producer_in_flight(p, &in_flight) != KBK_STATUS_OK || in_flight != 0) j->bad++;
  kbk_producer_free(p);
  return NULL;
}

typedef struct {
  atomic_int calls, receipts, refused;
  atomic_uint_fast64_t last_reception;
  const uint8_t *ex_pk;
  kbk_runtime *rt;
} cb_state;

static void on_response(void *ud, const kbk_response *r, const kbk_message *answer) {
  cb_state *c = (cb_state *)ud;
  kbk_runtime_counters st;
  /* The runtime cannot be shut down or freed from its own callback. */
  if (kbk_runtime_shutdown(c->rt, NULL, NULL, NULL, 0, &st) == KBK_STATUS_RUNTIME_IN_CALLBACK)
    atomic_fetch_add(&c->refused, 1);
  kbk_runtime_free(c->rt);
  /* Reads from a callback work, or say CLOSED during shutdown (no deadlock). */
  kbk_quote q;
  kbk_status qs = kbk_runtime_quote(c->rt, INST, &q);
  if (qs != KBK_STATUS_OK && qs != KBK_STATUS_RUNTIME_CLOSED) atomic_fetch_add(&c->refused, 100);
  if (answer && r->has_answer && r->refusal == 0 &&
      kbk_message_verify(answer, c->ex_pk) == KBK_STATUS_OK)
    atomic_fetch_add(&c->receipts, 1);
  atomic_store(&c->last_reception, r->reception_number);
  atomic_fetch_add(&c->calls, 1);
}

static void wait_for(atomic_int *v, int want) {
  for (int i = 0; i < 20000 && atomic_load(v) < want; i++) pause_briefly();
}

/* One response from a queue-mode producer, waiting up to 5 s. */
static kbk_message *one_response(kbk_producer *p, kbk_response *r) {
  kbk_message *a = NULL;
  CHECK_OK(kbk_producer_recv_timeout(p, 5000000000ull, r, &a));
  return a;
}

/* `signing_thread` 0: the verification workers sign (and call back). */
static void test_concurrent(uint8_t signing_thread) {
  world w;
  world_new(&w);
  uint8_t ex_pk[32];
  CHECK_OK(kbk_exchange_public_key(w.ex, ex_pk));
  kbk_message *cert = issue(&w, 0, 1000);

  /* Everything signed up front: each thread is one investor. */
  job jobs[NINV];
  memset(jobs, 0, sizeof jobs);
  for (int t = 0; t < NINV; t++) {
    for (int k = 0; k < PER_THREAD; k++)
      jobs[t].bytes[k] = signed_order(&w, t, w.inv[t], KBK_SIDE_BUY,
                                      9000 + 10 * (int64_t)t, 10, NULL, 0, &jobs[t].len[k]);
    jobs[t].ex_pk = ex_pk;
  }

  kbk_runtime_config cfg;
  CHECK_OK(kbk_runtime_config_default(&cfg));
  CHECK(cfg.verify_workers >= 1 && cfg.max_producers >= 4 && cfg.notifications == KBK_NOTIFY_DISCARD);
  CHECK(cfg.signing_thread == 1 && cfg.record_latency == 0);
  cfg.signing_thread = signing_thread;
  cfg.record_latency = 1;
  cfg.verify_workers = 2;
  cfg.ingress_capacity = 2;
  cfg.shard_capacity = 2;
  cfg.sign_capacity = 2;
  cfg.verify_batch = 4;
  cfg.sign_batch = 4;
  cfg.sign_window_ns = 1000000;
  cfg.notifications = KBK_NOTIFY_QUEUE;
  cfg.notification_capacity = 2; /* tiny: the signing stage waits for us */
  kbk_runtime *rt = NULL;
  CHECK_OK(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, &rt));

  /* The handles' contents run on the runtime now. */
  size_t n = 0;
  CHECK_STATUS(kbk_exchange_match_count(w.ex, &n), KBK_STATUS_IN_USE);
  CHECK_STATUS(kbk_register_audit(w.reg), KBK_STATUS_IN_USE);
  CHECK_STATUS(kbk_ledger_check(w.ledger), KBK_STATUS_IN_USE);
  CHECK(strstr(kbk_status_message(KBK_STATUS_IN_USE), "runtime") != NULL);
  /* ... and cannot be lent twice. */
  kbk_runtime *rt2 = NULL;
  CHECK_STATUS(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, &rt2), KBK_STATUS_IN_USE);
  CHECK(rt2 == NULL);

  CHECK_OK(kbk_runtime_set_time(rt, 20));
  CHECK_OK(kbk_runtime_set_time(rt, 15)); /* never goes back */
  uint64_t now = 0;
  CHECK_OK(kbk_runtime_time(rt, &now));
  CHECK(now == 20);

  kbk_subscriber *sub = NULL;
  CHECK_OK(kbk_runtime_subscribe(rt, 0, 1, &sub));

  for (int t = 0; t < NINV; t++) jobs[t].rt = rt;
  pthread_t th[NINV];
  for (int t = 0; t < NINV; t++) CHECK(pthread_create(&th[t], NULL, producer_thread, &jobs[t]) == 0);
  for (int t = 0; t < NINV; t++) CHECK(pthread_join(th[t], NULL) == 0);
  int fulls = 0;
  for (int t = 0; t < NINV; t++) {
    CHECK(jobs[t].bad == 0);
    CHECK(jobs[t].answers == PER_THREAD);
    CHECK(jobs[t].receipts == PER_THREAD);
    CHECK(jobs[t].verified == PER_THREAD);
    for (int k = 1; k <= PER_THREAD; k++) CHECK(jobs[t].seen[k] == 1);
    fulls += jobs[t].fulls;
  }
  CHECK(fulls > 0); /* back-pressure was seen and retried */
  /* One latency per answer, taken in two parts. */
  uint64_t lat[NINV * PER_THREAD];
  size_t got = 0, more = 0;
  CHECK_OK(kbk_runtime_take_latencies(rt, lat, 10, &got));
  CHECK(got == 10);
  CHECK_OK(kbk_runtime_take_latencies(rt, lat, NINV * PER_THREAD, &more));
  CHECK(got + more == NINV * PER_THREAD);
  CHECK(lat[0] > 0);
  CHECK_OK(kbk_runtime_take_latencies(rt, NULL, 0, &more));
  CHECK(more == 0);
  CHECK_STATUS(kbk_runtime_take_latencies(rt, NULL, 4, &more), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_take_latencies(rt, lat, 4, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* Market data: three bid levels of 40 orders x 10 shares each. */
  kbk_quote q;
  CHECK_OK(kbk_runtime_quote(rt, INST, &q));
  CHECK(q.has_bid == 1 && q.has_ask == 0);
  CHECK(q.bid_price == 9000 + 10 * (NINV - 1) && q.bid_qty == 10 * PER_THREAD);
  CHECK(q.instrument == INST && q.seq > 0 && q.version >= NINV * PER_THREAD);
  kbk_level lv[8];
  CHECK_OK(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, lv, 8, &n));
  CHECK(n == NINV);
  CHECK(n == NINV && lv[0].price == q.bid_price && lv[0].orders == PER_THREAD);
  CHECK_OK(kbk_runtime_depth(rt, INST, KBK_SIDE_SELL, lv, 8, &n));
  CHECK(n == 0);
  CHECK_OK(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, lv, 1, &n));
  CHECK(n == 1);
  kbk_market_event ev;
  int events = 0;
  uint64_t next_seq = 0;
  while (kbk_subscriber_poll(sub, &ev) == KBK_STATUS_OK) {
    CHECK(ev.seq == next_seq++ && ev.instrument == INST);
    CHECK(ev.event.kind == KBK_EVENT_ACCEPTED);
    events++;
  }
  CHECK(events == NINV * PER_THREAD);
  CHECK_STATUS(kbk_subscriber_poll(sub, &ev), KBK_STATUS_NOT_FOUND);

  /* A request whose signature does not verify (investor 1's key, investor
   * 0's name): refused by the verification stage, nothing sequenced. */
  kbk_response r;
  kbk_message *a = NULL;
  size_t len = 0;
  uint64_t ticket = 0;
  kbk_producer *mp = NULL;
  CHECK_OK(kbk_runtime_producer_new(rt, 2, NULL, NULL, &mp));
  CHECK_STATUS(kbk_producer_try_recv(mp, &r, &a), KBK_STATUS_NOT_FOUND);
  uint8_t *forged = signed_order(&w, 0, w.inv[1], KBK_SIDE_BUY, 9000, 10, NULL, 0, &len);
  CHECK_OK(kbk_producer_submit(mp, forged, len, &ticket));
  a = one_response(mp, &r);
  CHECK(r.ticket == 1 && r.has_sequence == 0 && r.refusal != 0 && r.has_answer == 1);
  uint8_t kind = 0;
  CHECK_OK(kbk_message_kind(a, &kind));
  CHECK(kind == KBK_KIND_ERROR_NOTICE);
  CHECK_OK(kbk_message_verify(a, ex_pk));
  kbk_message_free(a);
  free(forged);

  /* A seller through a callback producer: it trades with the best bids. */
  cb_state cs;
  atomic_init(&cs.calls, 0);
  atomic_init(&cs.receipts, 0);
  atomic_init(&cs.refused, 0);
  atomic_init(&cs.last_reception, 0);
  cs.ex_pk = ex_pk;
  cs.rt = rt;
  kbk_producer *cp = NULL;
  CHECK_OK(kbk_runtime_producer_new(rt, 4, on_response, &cs, &cp));
  const kbk_message *certs[1] = {cert};
  uint8_t *sell = signed_order(&w, 0, w.inv[0], KBK_SIDE_SELL, 9000, 30, certs, 1, &len);
  CHECK_OK(kbk_producer_submit(cp, sell, len, &ticket));
  CHECK(ticket == 1);
  CHECK_STATUS(kbk_producer_try_recv(cp, &r, &a), KBK_STATUS_INVALID_ARGUMENT);
  wait_for(&cs.calls, 1);
  CHECK(atomic_load(&cs.calls) == 1 && atomic_load(&cs.receipts) == 1);
  CHECK(atomic_load(&cs.refused) == 1);
  CHECK(atomic_load(&cs.last_reception) > 0);

  /* Notifications: the trade's completion notices (the queue holds 2, the
   * signing stage waits for us), its transfer, settlement and certificates. */
  int completions = 0, certificates = 0, total = 0;
  for (int spins = 0; spins < 20000 && (completions < 6 || certificates < 3); spins++) {
    kbk_outgoing o;
    kbk_message *m = NULL;
    kbk_status s = kbk_runtime_next_notification(rt, &o, &m);
    if (s == KBK_STATUS_NOT_FOUND) {
      pause_briefly();
      continue;
    }
    CHECK_OK(s);
    total++;
    if (o.kind == KBK_OUT_COMPLETION) {
      completions++;
      CHECK_OK(kbk_message_verify(m, ex_pk));
    }
    if (o.kind == KBK_OUT_REGISTER_CERTIFICATE) {
      certificates++;
      CHECK_OK(kbk_message_kind(m, &kind));
      CHECK(kind == KBK_KIND_CERTIFICATE);
      CHECK(field_u64(m, KBK_FIELD_HOLDER) == o.user);
    }
    if (m) CHECK(walk(m) > 0);
    kbk_message_free(m);
  }
  CHECK(completions == 6); /* three matches, buyer and seller each */
  CHECK(certificates >= 3);
  CHECK_OK(kbk_runtime_quote(rt, INST, &q));
  CHECK(q.bid_price == 9000 + 10 * (NINV - 1) && q.bid_qty == 10 * PER_THREAD - 30);

  kbk_runtime_counters st;
  CHECK_OK(kbk_runtime_stats(rt, &st));
  CHECK(st.submitted == NINV * PER_THREAD + 2);
  CHECK(st.refused_unverified == 1);

  /* A request in flight at shutdown is still answered. */
  uint8_t *last = signed_order(&w, 2, w.inv[2], KBK_SIDE_BUY, 9001, 10, NULL, 0, &len);
  CHECK_OK(kbk_producer_submit(mp, last, len, &ticket));
  CHECK(ticket == 2);

  /* ... and one whose callback reads the runtime while it shuts down. */
  uint8_t *late = signed_order(&w, 1, w.inv[1], KBK_SIDE_BUY, 9001, 10, NULL, 0, &len);
  CHECK_OK(kbk_producer_submit(cp, late, len, &ticket));
  CHECK(ticket == 2);

  CHECK_OK(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 1, &st));
  CHECK(atomic_load(&cs.calls) == 2 && atomic_load(&cs.refused) == 2);
  CHECK(st.submitted == NINV * PER_THREAD + 4);
  CHECK(st.responses == NINV * PER_THREAD + 4);
  CHECK(st.sequenced == NINV * PER_THREAD + 3);
  CHECK(st.signatures > 0 && st.signatures < st.signed_messages);
  a = one_response(mp, &r);
  CHECK(r.ticket == 2 && r.refusal == 0 && r.has_sequence == 1);
  CHECK_OK(kbk_message_verify(a, ex_pk));
  kbk_message_free(a);

  /* After shutdown: the handles are back and synchronous. */
  CHECK_OK(kbk_exchange_match_count(w.ex, &n));
  CHECK(n == 3);
  CHECK_OK(kbk_exchange_check_invariants(w.ex, w.reg, w.ledger));
  CHECK_OK(kbk_register_audit(w.reg));
  CHECK_OK(kbk_ledger_check(w.ledger));
  /* ... the runtime is closed, and hands nothing over. */
  CHECK_STATUS(kbk_producer_submit(mp, last, len, &ticket), KBK_STATUS_RUNTIME_CLOSED);
  CHECK(ticket == 2);
  CHECK_STATUS(kbk_runtime_producer_new(rt, 1, NULL, NULL, &mp), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_set_time(rt, 99), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_time(rt, &now), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_take_latencies(rt, NULL, 0, &n), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_quote(rt, INST, &q), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, lv, 8, &n), KBK_STATUS_RUNTIME_CLOSED);
  kbk_subscriber *sub2 = NULL;
  CHECK_STATUS(kbk_runtime_subscribe(rt, 0, 0, &sub2), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 1, &st),
               KBK_STATUS_RUNTIME_CLOSED);
  kbk_runtime_counters st2;
  CHECK_OK(kbk_runtime_stats(rt, &st2));
  CHECK(st2.responses == st.responses);
  /* Queued notifications stay readable; the event stream too. */
  for (;;) {
    kbk_outgoing o;
    kbk_message *m = NULL;
    kbk_status s = kbk_runtime_next_notification(rt, &o, &m);
    if (s != KBK_STATUS_OK) {
      CHECK(s == KBK_STATUS_NOT_FOUND);
      break;
    }
    total++;
    kbk_message_free(m);
  }
  CHECK(total > 6);
  int trades = 0;
  while (kbk_subscriber_poll(sub, &ev) == KBK_STATUS_OK)
    if (ev.event.kind == KBK_EVENT_TRADE) trades++;
  CHECK(trades == 3);

  kbk_subscriber_free(sub);
  kbk_producer_free(mp);
  kbk_producer_free(cp);
  kbk_runtime_free(rt);
  free(last);
  free(late);
  free(sell);
  for (int t = 0; t < NINV; t++)
    for (int k = 0; k < PER_THREAD; k++) free(jobs[t].bytes[k]);
  kbk_message_free(cert);
  world_free(&w);
}

typedef struct {
  atomic_int items, certificates;
} note_state;

static void on_note(void *ud, const kbk_outgoing *o, const kbk_message *m) {
  note_state *s = (note_state *)ud;
  if (o->kind == KBK_OUT_REGISTER_CERTIFICATE && m) atomic_fetch_add(&s->certificates, 1);
  atomic_fetch_add(&s->items, 1);
}

/* Notifications to a callback, trusted-gateway mode (unsigned answers) and
 * freeing a running runtime. */
static void test_callback_and_trusted(void) {
  world w;
  world_new(&w);
  kbk_message *cert = issue(&w, 1, 100);
  note_state ns;
  atomic_init(&ns.items, 0);
  atomic_init(&ns.certificates, 0);
  kbk_runtime_config cfg;
  CHECK_OK(kbk_runtime_config_default(&cfg));
  cfg.notifications = KBK_NOTIFY_CALLBACK;
  cfg.notify = on_note;
  cfg.notify_userdata = &ns;
  cfg.trusted_gateway = 1;
  cfg.max_producers = 1;
  cfg.event_capacity = 2; /* a tiny ring: the subscriber below falls behind */
  kbk_runtime *rt = NULL;
  CHECK_OK(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, &rt));
  kbk_subscriber *sub = NULL;
  CHECK_OK(kbk_runtime_subscribe(rt, 0, 0, &sub));
  kbk_producer *p = NULL, *p2 = NULL;
  CHECK_OK(kbk_runtime_producer_new(rt, 4, NULL, NULL, &p));
  CHECK_STATUS(kbk_runtime_producer_new(rt, 4, NULL, NULL, &p2), KBK_STATUS_RUNTIME_NO_PRODUCER);
  CHECK(p2 == NULL);
  CHECK_STATUS(kbk_runtime_next_notification(rt, &(kbk_outgoing){0}, &(kbk_message *){NULL}),
               KBK_STATUS_INVALID_ARGUMENT);
  size_t len = 0, blen = 0;
  uint64_t ticket = 0;
  uint8_t *buy = signed_order(&w, 0, w.inv[0], KBK_SIDE_BUY, 9500, 10, NULL, 0, &blen);
  CHECK_OK(kbk_producer_submit(p, buy, blen, &ticket));
  const kbk_message *certs[1] = {cert};
  uint8_t *sell = signed_order(&w, 1, w.inv[1], KBK_SIDE_SELL, 9500, 10, certs, 1, &len);
  CHECK_OK(kbk_producer_submit(p, sell, len, &ticket));
  for (int k = 0; k < 2; k++) {
    kbk_response r;
    kbk_message *a = one_response(p, &r);
    CHECK(a == NULL && r.has_answer == 0 && r.refusal == 0 && r.has_sequence == 1);
    CHECK(r.reception_number > 0 && r.ticket == (uint64_t)k + 1);
  }
  /* Two acceptances and a trade went through a ring of two. */
  kbk_market_event ev;
  ev.seq = 99;
  CHECK_STATUS(kbk_subscriber_poll(sub, &ev), KBK_STATUS_RUNTIME_LAGGED);
  CHECK(ev.seq == 99);
  CHECK_OK(kbk_subscriber_poll(sub, &ev));
  CHECK(ev.seq >= 1 && ev.instrument == INST);
  kbk_subscriber_free(sub);

  /* Unsigned requests from the gateway: an order, then its cancel. */
  kbk_order_request o;
  memset(&o, 0, sizeof o);
  o.user_id = INV0 + 2;
  o.instrument = INST;
  o.side = KBK_SIDE_BUY;
  o.has_price = 1;
  o.price = 9400;
  o.quantity = 10;
  o.tif = KBK_TIF_GTC;
  o.name_address = "Investor, Tokyo";
  o.account = INV0 + 2;
  o.seq = ++w.seq[2];
  CHECK_STATUS(kbk_producer_submit_trusted_order(p, NULL, NULL, 0, &ticket), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_submit_trusted_order(p, &o, NULL, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_submit_trusted_order(p, &o, NULL, 1, &ticket), KBK_STATUS_NULL_ARGUMENT);
  o.side = 9;
  CHECK_STATUS(kbk_producer_submit_trusted_order(p, &o, NULL, 0, &ticket), KBK_STATUS_INVALID_ARGUMENT);
  o.side = KBK_SIDE_BUY;
  CHECK_STATUS(kbk_producer_submit_trusted_cancel(p, INV0, 1, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(ticket == 2);
  CHECK_OK(kbk_producer_submit_trusted_order(p, &o, NULL, 0, &ticket));
  CHECK(ticket == 3);
  kbk_response r;
  kbk_message *a = one_response(p, &r);
  CHECK(a == NULL && r.ticket == 3 && r.refusal == 0 && r.reception_number > 0);
  CHECK_OK(kbk_producer_submit_trusted_cancel(p, INV0 + 2, r.reception_number, ++w.seq[2], &ticket));
  CHECK(ticket == 4);
  a = one_response(p, &r);
  CHECK(a == NULL && r.ticket == 4 && r.refusal == 0);
  /* A cancel of an order that is gone is refused (unsigned notice). */
  CHECK_OK(kbk_producer_submit_trusted_cancel(p, INV0 + 2, r.reception_number, ++w.seq[2], &ticket));
  a = one_response(p, &r);
  CHECK(a == NULL && r.ticket == 5 && r.refusal != 0 && r.has_answer == 0);

  wait_for(&ns.certificates, 1);
  CHECK(atomic_load(&ns.certificates) >= 1);
  CHECK(atomic_load(&ns.items) >= 3);
  /* Freed while running: shut down, the shards dropped, the handles stay
   * IN_USE until freed. */
  kbk_runtime_free(rt);
  size_t n = 0;
  CHECK_STATUS(kbk_exchange_match_count(w.ex, &n), KBK_STATUS_IN_USE);
  CHECK_STATUS(kbk_producer_submit(p, buy, blen, &ticket), KBK_STATUS_RUNTIME_CLOSED);
  kbk_producer_free(p);
  free(buy);
  free(sell);
  kbk_message_free(cert);
  world_free(&w);
}

static void resp_noop(void *ud, const kbk_response *r, const kbk_message *a) {
  (void)ud;
  (void)r;
  (void)a;
}

/* Bad input to every runtime export. */
static void test_bad_input(void) {
  world w, w2;
  world_new(&w);
  world_new(&w2);
  kbk_runtime_config cfg, bad;
  kbk_runtime *rt = NULL;
  CHECK_STATUS(kbk_runtime_config_default(NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_runtime_config_default(&cfg));

  /* start */
  CHECK_STATUS(kbk_runtime_start(NULL, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_start(&cfg, NULL, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_start(&cfg, NULL, NULL, NULL, 0, &rt), KBK_STATUS_RUNTIME_START);
  kbk_exchange *null_ex = NULL;
  CHECK_STATUS(kbk_runtime_start(&cfg, &null_ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_start(&cfg, (kbk_exchange **)&w.reg, &w.reg, &w.ledger, 1, &rt),
               KBK_STATUS_INVALID_HANDLE);
  kbk_exchange *exs[2] = {w.ex, w.ex};
  kbk_register *regs[2] = {w.reg, w.reg};
  kbk_ledger *leds[2] = {w.ledger, w.ledger};
  CHECK_STATUS(kbk_runtime_start(&cfg, exs, regs, leds, 2, &rt), KBK_STATUS_INVALID_HANDLE);
  /* Two shards listing the same instrument. */
  exs[1] = w2.ex;
  regs[1] = w2.reg;
  leds[1] = w2.ledger;
  CHECK_STATUS(kbk_runtime_start(&cfg, exs, regs, leds, 2, &rt), KBK_STATUS_RUNTIME_START);
  size_t n = 0;
  CHECK_OK(kbk_exchange_match_count(w.ex, &n)); /* nothing was taken */
  CHECK_OK(kbk_exchange_match_count(w2.ex, &n));
  size_t fields[] = {offsetof(kbk_runtime_config, verify_workers),
                     offsetof(kbk_runtime_config, ingress_capacity),
                     offsetof(kbk_runtime_config, shard_capacity),
                     offsetof(kbk_runtime_config, sign_capacity),
                     offsetof(kbk_runtime_config, verify_batch),
                     offsetof(kbk_runtime_config, sign_batch),
                     offsetof(kbk_runtime_config, depth),
                     offsetof(kbk_runtime_config, event_capacity),
                     offsetof(kbk_runtime_config, max_producers)};
  for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
    size_t vals[2] = {0, (size_t)1 << 40};
    for (int v = 0; v < 2; v++) {
      bad = cfg;
      memcpy((char *)&bad + fields[f], &vals[v], sizeof(size_t));
      CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt),
                   KBK_STATUS_INVALID_ARGUMENT);
    }
  }
  bad = cfg;
  bad.verify_window_ns = 2000000000ull;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.notifications = 3;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.notifications = KBK_NOTIFY_QUEUE;
  bad.notification_capacity = 0;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.notifications = KBK_NOTIFY_CALLBACK;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_NULL_ARGUMENT);
  bad = cfg;
  bad.trusted_gateway = 2;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.record_latency = 2;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.signing_thread = 2;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  bad = cfg;
  bad.reserved[0] = 1;
  CHECK_STATUS(kbk_runtime_start(&bad, &w.ex, &w.reg, &w.ledger, 1, &rt), KBK_STATUS_INVALID_ARGUMENT);
  CHECK(rt == NULL);
  /* An exchange that has traded synchronously cannot start a runtime. */
  uint32_t refusal = 0;
  kbk_message_free(order(&w2, 0, KBK_SIDE_BUY, 9000, 10, NULL, 0, &refusal));
  CHECK(refusal == 0);
  CHECK_STATUS(kbk_runtime_start(&cfg, &w2.ex, &w2.reg, &w2.ledger, 1, &rt), KBK_STATUS_RUNTIME_START);
  CHECK(rt == NULL);

  CHECK_OK(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, &rt));

  /* The runtime's calls */
  kbk_runtime_counters st;
  kbk_quote q;
  kbk_level lv[4];
  uint64_t now = 0;
  CHECK_STATUS(kbk_runtime_set_time(NULL, 1), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_set_time((kbk_runtime *)w.ex, 1), KBK_STATUS_INVALID_HANDLE);
  CHECK_STATUS(kbk_runtime_time(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_time(NULL, &now), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_stats(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_stats(NULL, &st), KBK_STATUS_NULL_ARGUMENT);
  uint8_t failed = 9;
  CHECK_OK(kbk_runtime_failed(rt, &failed));
  CHECK(failed == 0);
  CHECK_STATUS(kbk_runtime_failed(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_failed(NULL, &failed), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_quote(rt, INST, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_quote(rt, INST + 1, &q), KBK_STATUS_NOT_FOUND);
  CHECK_OK(kbk_runtime_quote(rt, INST, &q));
  CHECK(q.has_bid == 0 && q.has_ask == 0 && q.seq == 0);
  CHECK_STATUS(kbk_runtime_depth(rt, INST, 2, lv, 4, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_depth(rt, INST + 1, KBK_SIDE_BUY, lv, 4, &n), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, lv, 4, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_runtime_depth(rt, INST, KBK_SIDE_BUY, NULL, 0, &n));
  CHECK(n == 0);
  kbk_outgoing o;
  kbk_message *m = NULL;
  CHECK_STATUS(kbk_runtime_next_notification(rt, &o, &m), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_next_notification(rt, NULL, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_next_notification(rt, &o, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* subscribers */
  kbk_subscriber *sub = NULL;
  kbk_market_event ev;
  CHECK_STATUS(kbk_runtime_subscribe(rt, 1, 0, &sub), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_runtime_subscribe(rt, 0, 2, &sub), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_subscribe(rt, 0, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_subscribe(NULL, 0, 0, &sub), KBK_STATUS_NULL_ARGUMENT);
  CHECK(sub == NULL);
  CHECK_OK(kbk_runtime_subscribe(rt, 0, 0, &sub));
  CHECK_STATUS(kbk_subscriber_poll(sub, &ev), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_subscriber_poll(sub, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_subscriber_poll(NULL, &ev), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_subscriber_poll((kbk_subscriber *)rt, &ev), KBK_STATUS_INVALID_HANDLE);
  kbk_subscriber_free(NULL);

  /* producers */
  kbk_producer *p = NULL, *cbp = NULL;
  CHECK_STATUS(kbk_runtime_producer_new(rt, 0, NULL, NULL, &p), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_producer_new(rt, (size_t)1 << 21, NULL, NULL, &p),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_producer_new(rt, 1, NULL, NULL, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_producer_new(NULL, 1, NULL, NULL, &p), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_producer_new((kbk_runtime *)w.reg, 1, NULL, NULL, &p),
               KBK_STATUS_INVALID_HANDLE);
  CHECK(p == NULL);
  CHECK_OK(kbk_runtime_producer_new(rt, 1, NULL, NULL, &p));
  CHECK_OK(kbk_runtime_producer_new(rt, 1, resp_noop, NULL, &cbp));
  size_t len = 0;
  uint64_t ticket = 7;
  uint8_t *b = signed_order(&w, 0, w.inv[0], KBK_SIDE_BUY, 9000, 10, NULL, 0, &len);
  CHECK_STATUS(kbk_producer_submit(p, NULL, len, &ticket), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_submit(p, b, len, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_submit(NULL, b, len, &ticket), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_submit((kbk_producer *)sub, b, len, &ticket), KBK_STATUS_INVALID_HANDLE);
  CHECK_STATUS(kbk_producer_submit(p, b, 0, &ticket), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_producer_submit(p, b, len - 1, &ticket), KBK_STATUS_WIRE_MALFORMED);
  uint8_t *longer = (uint8_t *)malloc(len + 1);
  memcpy(longer, b, len);
  longer[len] = 0;
  CHECK_STATUS(kbk_producer_submit(p, longer, len + 1, &ticket), KBK_STATUS_WIRE_MALFORMED);
  free(longer);
  uint8_t junk[64];
  memset(junk, 0xab, sizeof junk);
  CHECK_STATUS(kbk_producer_submit(p, junk, sizeof junk, &ticket), KBK_STATUS_WIRE_MALFORMED);
  kbk_message *att = attest(&w2, 4242, w.inv[0], KBK_ROLE_INVESTOR, 1);
  size_t alen = 0;
  uint8_t *ab = wire(att, &alen);
  CHECK_STATUS(kbk_producer_submit(p, ab, alen, &ticket), KBK_STATUS_WIRE_WRONG_KIND);
  free(ab);
  kbk_message_free(att);
  CHECK_STATUS(kbk_producer_submit_trusted_cancel(p, INV0, 1, 1, &ticket), KBK_STATUS_INVALID_ARGUMENT);
  kbk_order_request ord;
  memset(&ord, 0, sizeof ord);
  CHECK_STATUS(kbk_producer_submit_trusted_order(p, &ord, NULL, 0, &ticket), KBK_STATUS_INVALID_ARGUMENT);
  CHECK(ticket == 7);
  kbk_response r;
  kbk_message *a = NULL;
  CHECK_STATUS(kbk_producer_try_recv(p, NULL, &a), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_try_recv(p, &r, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_try_recv(NULL, &r, &a), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_try_recv(p, &r, &a), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_producer_recv_timeout(p, 4000000000000ull, &r, &a), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_producer_recv_timeout(p, 1000, &r, &a), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_producer_recv_timeout(cbp, 1000, &r, &a), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_producer_in_flight(p, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_producer_in_flight(NULL, &n), KBK_STATUS_NULL_ARGUMENT);
  /* capacity 1: a second submission before the answer is taken is FULL */
  CHECK_OK(kbk_producer_submit(p, b, len, &ticket));
  CHECK(ticket == 1);
  CHECK_STATUS(kbk_producer_submit(p, b, len, &ticket), KBK_STATUS_RUNTIME_FULL);
  CHECK(ticket == 1);
  CHECK_OK(kbk_producer_in_flight(p, &n));
  CHECK(n == 1);
  a = one_response(p, &r);
  CHECK(r.ticket == 1 && r.refusal == 0);
  kbk_message_free(a);
  kbk_producer_free(NULL);

  /* shutdown */
  kbk_exchange *other_ex = w2.ex;
  CHECK_STATUS(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 2, &st), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_shutdown(rt, NULL, &w.reg, &w.ledger, 1, &st), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_shutdown(rt, &other_ex, &w.reg, &w.ledger, 1, &st),
               KBK_STATUS_INVALID_ARGUMENT); /* not lent */
  CHECK_STATUS(kbk_runtime_shutdown(rt, &w.ex, (kbk_register **)&w.ledger, &w.ledger, 1, &st),
               KBK_STATUS_INVALID_HANDLE);
  CHECK_STATUS(kbk_runtime_shutdown(NULL, &w.ex, &w.reg, &w.ledger, 1, &st), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_match_count(w.ex, &n), KBK_STATUS_IN_USE); /* still running */
  CHECK_OK(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 1, &st));
  CHECK(st.submitted == 1 && st.responses == 1);
  CHECK_STATUS(kbk_producer_submit(p, b, len, &ticket), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_producer_submit(cbp, b, len, &ticket), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_runtime_failed(rt, &failed), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_OK(kbk_exchange_match_count(w.ex, &n));
  CHECK(n == 0);

  kbk_producer_free(p);
  kbk_producer_free(cbp);
  kbk_subscriber_free(sub);
  kbk_runtime_free(rt);
  kbk_runtime_free(NULL);
  free(b);
  world_free(&w);
  world_free(&w2);
}

/* A signed DAY buy of `user` with key `k` (wire bytes, malloc'd). */
static uint8_t *day_buy(const kbk_keypair *k, uint64_t user, uint64_t seq, size_t *len) {
  kbk_order_request o;
  kbk_message *req = NULL;
  memset(&o, 0, sizeof o);
  o.user_id = user;
  o.instrument = INST;
  o.side = KBK_SIDE_BUY;
  o.has_price = 1;
  o.price = 9500;
  o.quantity = 10;
  o.tif = KBK_TIF_DAY;
  o.name_address = "Newcomer, Osaka";
  o.account = user;
  o.seq = seq;
  CHECK_OK(kbk_sign_order(k, &o, NULL, 0, &req));
  uint8_t *b = wire(req, len);
  kbk_message_free(req);
  return b;
}

/* Waits for the control's outcome and frees it. */
static kbk_status outcome(kbk_control *c) {
  kbk_status s = kbk_control_wait(c, 5000000000ull);
  CHECK(kbk_control_wait(c, 0) == s); /* kept */
  kbk_control_free(c);
  return s;
}

/* Administration while the runtime runs: a new investor joins, gets an
 * account and cash, trades, the day ends, the investor is revoked. */
static void test_controls(void) {
  world w;
  world_new(&w);
  uint8_t ex_pk[32];
  CHECK_OK(kbk_exchange_public_key(w.ex, ex_pk));
  const uint64_t NEW = 5000;
  kbk_keypair *k = key_from(77);
  world bare = w; /* attest without registering anywhere */
  bare.reg = NULL;
  bare.ex = NULL;
  kbk_message *att = attest(&bare, NEW, k, KBK_ROLE_INVESTOR, 100000);
  size_t alen = 0, olen = 0;
  uint8_t *ab = wire(att, &alen);

  kbk_runtime_config cfg;
  CHECK_OK(kbk_runtime_config_default(&cfg));
  cfg.notifications = KBK_NOTIFY_QUEUE;
  kbk_runtime *rt = NULL;
  CHECK_OK(kbk_runtime_start(&cfg, &w.ex, &w.reg, &w.ledger, 1, &rt));
  kbk_producer *p = NULL;
  CHECK_OK(kbk_runtime_producer_new(rt, 4, NULL, NULL, &p));
  uint64_t ticket = 0;
  kbk_response r;
  kbk_message *a = NULL;

  /* Unknown yet: refused. */
  uint8_t *ob = day_buy(k, NEW, 1, &olen);
  CHECK_OK(kbk_producer_submit(p, ob, olen, &ticket));
  a = one_response(p, &r);
  CHECK(r.refusal != 0);
  kbk_message_free(a);
  free(ob);

  kbk_control *c = NULL;
  CHECK_OK(kbk_runtime_add_party(rt, 0, ab, alen, &c));
  CHECK_OK(outcome(c));
  CHECK_OK(kbk_runtime_open_account(rt, 0, NEW, NEW, &c));
  CHECK_OK(outcome(c));
  CHECK_OK(kbk_runtime_open_account(rt, 0, NEW, NEW, &c));
  CHECK(outcome(c) == KBK_STATUS_SETTLE_DUPLICATE_ACCOUNT);
  CHECK_OK(kbk_runtime_deposit(rt, 0, NEW, "1000.00", &c));
  CHECK_OK(outcome(c));
  CHECK_OK(kbk_runtime_deposit(rt, 0, 999999, "1.00", &c));
  CHECK(outcome(c) == KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT);
  CHECK_OK(kbk_runtime_deposit(rt, 0, NEW, "-5", &c));
  CHECK(outcome(c) == KBK_STATUS_SETTLE_BAD_AMOUNT);

  /* Known now: accepted, and the answer verifies. */
  ob = day_buy(k, NEW, 2, &olen);
  CHECK_OK(kbk_producer_submit(p, ob, olen, &ticket));
  a = one_response(p, &r);
  CHECK(r.refusal == 0 && r.reception_number > 0);
  CHECK_OK(kbk_message_verify(a, ex_pk));
  kbk_message_free(a);
  free(ob);
  uint64_t order_no = r.reception_number;

  /* End of day: the DAY order expires and leaves the book. */
  kbk_quote q;
  CHECK_OK(kbk_runtime_quote(rt, INST, &q));
  CHECK(q.has_bid == 1 && q.bid_price == 9500 && q.bid_qty == 10);
  CHECK_OK(kbk_runtime_end_of_day(rt, 0, &c));
  CHECK_OK(outcome(c));
  for (int spins = 0; spins < 20000 && q.has_bid; spins++) {
    pause_briefly();
    CHECK_OK(kbk_runtime_quote(rt, INST, &q));
  }
  CHECK(q.has_bid == 0);
  CHECK(order_no > 0);

  /* Revoked: the next order is refused. */
  uint64_t serial = field_u64(att, KBK_FIELD_SERIAL);
  kbk_message *rev = NULL;
  CHECK_OK(kbk_ca_revoke(w.ca, &serial, 1, w.now, &rev));
  size_t rlen = 0;
  uint8_t *rb = wire(rev, &rlen);
  CHECK_OK(kbk_runtime_revoke(rt, 0, rb, rlen, &c));
  CHECK_OK(outcome(c));
  ob = day_buy(k, NEW, 3, &olen);
  CHECK_OK(kbk_producer_submit(p, ob, olen, &ticket));
  a = one_response(p, &r);
  CHECK(r.refusal != 0);
  kbk_message_free(a);

  /* Bad input. */
  c = NULL;
  CHECK_STATUS(kbk_runtime_add_party(rt, 1, ab, alen, &c), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, ab, alen - 1, &c), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, rb, rlen, &c), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, NULL, alen, &c), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, ab, alen, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_add_party(NULL, 0, ab, alen, &c), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_revoke(rt, 0, ab, alen, &c), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_runtime_deposit(rt, 0, NEW, "abc", &c), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_runtime_deposit(rt, 0, NEW, NULL, &c), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_runtime_open_account(rt, 7, 1, 1, &c), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_runtime_end_of_day(rt, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(c == NULL);
  /* An attestation from another CA (same id and name, other key). */
  kbk_ca *other = NULL;
  CHECK_OK(kbk_ca_new(CA_ID, "Test CA", k, &other));
  bare.ca = other;
  kbk_message *foreign = attest(&bare, NEW + 1, k, KBK_ROLE_INVESTOR, 100000);
  size_t flen = 0;
  uint8_t *fb = wire(foreign, &flen);
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, fb, flen, &c), KBK_STATUS_IDENTITY_BAD_ISSUER);
  CHECK_STATUS(kbk_control_wait(NULL, 0), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_control_wait((kbk_control *)p, 0), KBK_STATUS_INVALID_HANDLE);
  CHECK_OK(kbk_runtime_end_of_day(rt, 0, &c));
  CHECK_STATUS(kbk_control_wait(c, 4000000000000ull), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_OK(outcome(c));
  kbk_control_free(NULL);

  kbk_runtime_counters st;
  CHECK_OK(kbk_runtime_shutdown(rt, &w.ex, &w.reg, &w.ledger, 1, &st));
  CHECK_STATUS(kbk_runtime_add_party(rt, 0, ab, alen, &c), KBK_STATUS_RUNTIME_CLOSED);
  /* The ledger kept the newcomer's cash. */
  char buf[64];
  size_t n = 0;
  CHECK_OK(kbk_ledger_balance(w.ledger, NEW, KBK_BALANCE_AVAILABLE, buf, sizeof buf, &n));
  CHECK(strcmp(buf, "1000.00") == 0);

  kbk_producer_free(p);
  kbk_runtime_free(rt);
  kbk_message_free(foreign);
  kbk_ca_free(other);
  free(fb);
  free(ob);
  free(rb);
  free(ab);
  kbk_message_free(rev);
  kbk_message_free(att);
  kbk_keypair_free(k);
  world_free(&w);
}

int main(void) {
  test_concurrent(1);
  test_concurrent(0);
  test_callback_and_trusted();
  test_bad_input();
  test_controls();
  return check_done("test_runtime");
}
