/* The compact trusted gateway through the C ABI: a whole synchronous
 * session (issue, sell, buy, fill, holdings, cash, transfers, invariants,
 * batch-signed documents that verify with the register's key); reports
 * into a caller array (with the overflow kept queued) and through a
 * callback; the gateway runtime started from the same handle (which
 * answers IN_USE meanwhile) with three pthreads, each with its own
 * producer, and tiny queues (FULL statuses, retried; every order answered
 * exactly once), best bid/ask, depth, the event stream, shutdown draining
 * and giving the state back; and bad input to every export. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "check.h"

/* Layout: C sees the engine's 56- and 64-byte records. */
_Static_assert(sizeof(kbk_gateway_order) == 56, "order is 56 bytes");
_Static_assert(sizeof(kbk_gateway_report) == 64, "report is 64 bytes");
_Static_assert(offsetof(kbk_gateway_order, account) == 40, "order.account");
_Static_assert(offsetof(kbk_gateway_order, kind) == 48, "order.kind");
_Static_assert(offsetof(kbk_gateway_report, kind) == 56, "report.kind");
_Static_assert(offsetof(kbk_gateway_report, code) == 58, "report.code");

#define INST_ID 7203u

static kbk_gateway_order buy(uint64_t tag, uint32_t account, uint32_t inst, int64_t price,
                             uint64_t qty) {
  kbk_gateway_order o;
  memset(&o, 0, sizeof o);
  o.tag = tag;
  o.account = account;
  o.instrument = inst;
  o.price = price;
  o.qty = qty;
  o.kind = KBK_GATEWAY_BUY;
  o.tif = KBK_GATEWAY_TIF_GTC;
  return o;
}

static kbk_gateway_order sell(uint64_t tag, uint32_t account, uint32_t inst, int64_t price,
                              uint64_t qty, uint64_t cert) {
  kbk_gateway_order o = buy(tag, account, inst, price, qty);
  o.kind = KBK_GATEWAY_SELL;
  o.cert = cert;
  return o;
}

static kbk_gateway_instrument rules(uint32_t id) {
  kbk_gateway_instrument r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.tick_value = 1;
  r.lot_size = 100;
  r.band_low = 1;
  r.band_high = 100000;
  r.max_qty = 1000000;
  return r;
}

static const kbk_gateway_report *find(const kbk_gateway_report *r, size_t n, uint8_t kind,
                                      uint64_t tag) {
  for (size_t i = 0; i < n; i++)
    if (r[i].kind == kind && r[i].tag == tag) return &r[i];
  return NULL;
}

/* A market: one instrument, alice (cash 0, 1000 shares) and bob (cash
 * 10,000,000). */
static kbk_gateway *market(uint32_t *inst, uint32_t *alice, uint32_t *bob, uint64_t *cert) {
  kbk_gateway *g = NULL;
  kbk_gateway_instrument r = rules(INST_ID);
  CHECK_OK(kbk_gateway_new(&g));
  CHECK_OK(kbk_gateway_reserve(g, 64, 64));
  CHECK_OK(kbk_gateway_add_instrument(g, &r, inst));
  CHECK_OK(kbk_gateway_open_account(g, 1, 0, alice));
  CHECK_OK(kbk_gateway_open_account(g, 2, 5000000, bob));
  CHECK_OK(kbk_gateway_deposit(g, *bob, 5000000));
  CHECK_OK(kbk_gateway_issue(g, *alice, *inst, 1000, cert));
  return g;
}

static void session(void) {
  uint32_t inst = 99, alice = 99, bob = 99, idx = 0;
  uint64_t cert = 0, shares = 0;
  kbk_gateway *g = market(&inst, &alice, &bob, &cert);
  CHECK(inst == 0 && alice == 0 && bob == 1 && cert == 1);
  CHECK_OK(kbk_gateway_instrument_index(g, INST_ID, &idx));
  CHECK(idx == inst);

  kbk_gateway_order orders[2] = {sell(1, alice, inst, 2500, 300, cert),
                                 buy(2, bob, inst, 2600, 300)};
  kbk_gateway_report rep[16];
  size_t n = 0;
  CHECK_OK(kbk_gateway_apply(g, orders, 2, rep, 16, &n));
  CHECK(n >= 5);
  size_t first_n = n;
  const kbk_gateway_report *acc = find(rep, n, KBK_GATEWAY_ACCEPTED, 1);
  CHECK(acc && acc->order == 1 && acc->seq == 1 && acc->price == 2500 && acc->qty == 300);
  const kbk_gateway_report *fb = find(rep, n, KBK_GATEWAY_FILL, 2);
  CHECK(fb && fb->price == 2500 && fb->qty == 300 && fb->matched == 1 && fb->order == 2);
  const kbk_gateway_report *fs = find(rep, n, KBK_GATEWAY_FILL, 1);
  CHECK(fs && fs->qty == 300 && fs->cert != 0);
  const kbk_gateway_report *ds = find(rep, n, KBK_GATEWAY_DONE, 1);
  CHECK(ds && ds->code == KBK_GATEWAY_DONE_FILLED);
  uint64_t bob_cert = fb ? fb->cert : 0;
  uint64_t change = fs ? fs->cert : 0;

  /* Holdings, cash, certificates, orders, transfers. */
  CHECK_OK(kbk_gateway_shares_of(g, bob, inst, &shares));
  CHECK(shares == 300);
  CHECK_OK(kbk_gateway_shares_of(g, alice, inst, &shares));
  CHECK(shares == 700);
  kbk_gateway_account_info a;
  CHECK_OK(kbk_gateway_account(g, alice, &a));
  CHECK(a.owner == 1 && a.cash == 750000 && a.reserved == 0);
  CHECK_OK(kbk_gateway_account(g, bob, &a));
  CHECK(a.owner == 2 && a.cash == 10000000 - 750000 && a.reserved == 0);
  kbk_gateway_cert_info c;
  CHECK_OK(kbk_gateway_certificate(g, bob_cert, &c));
  CHECK(c.state == KBK_GATEWAY_CERT_LIVE && c.holder == bob && c.shares == 300 && c.origin == 1);
  CHECK_OK(kbk_gateway_certificate(g, cert, &c));
  CHECK(c.state == KBK_GATEWAY_CERT_SPENT);
  CHECK_OK(kbk_gateway_certificate(g, change, &c));
  CHECK(c.state == KBK_GATEWAY_CERT_LIVE && c.holder == alice && c.shares == 700);
  uint64_t serials[4];
  CHECK_OK(kbk_gateway_holdings(g, bob, serials, 4, &n));
  CHECK(n == 1 && serials[0] == bob_cert);
  kbk_gateway_order_info oi;
  CHECK_OK(kbk_gateway_order_by_number(g, 1, &oi));
  CHECK(oi.done == 1 && oi.filled == 300 && oi.open == 0 && oi.side == KBK_SIDE_SELL &&
        oi.tag == 1 && oi.cert == 0);
  size_t tc = 0;
  CHECK_OK(kbk_gateway_transfer_count(g, &tc));
  CHECK(tc == 1);
  kbk_gateway_transfer_info t;
  CHECK_OK(kbk_gateway_transfer(g, 0, &t));
  CHECK(t.number == 1 && t.buyer == bob && t.seller == alice && t.quantity == 300 &&
        t.price == 2500 && t.spent == cert && t.new_cert == bob_cert && t.change == change &&
        t.buy_order == 2 && t.sell_order == 1);
  kbk_gateway_counters st;
  CHECK_OK(kbk_gateway_stats(g, &st));
  CHECK(st.requests == 2 && st.accepted == 2 && st.refused == 0 && st.fills == 1 &&
        st.shares_lo == 300 && st.shares_hi == 0 && st.value_lo == 750000 &&
        st.certificates == 3 && st.orders == 2 && st.accounts == 2 && st.instruments == 1);
  CHECK_OK(kbk_gateway_check_invariants(g));

  /* A resting bid, seen by the synchronous quote. */
  kbk_gateway_order bid = buy(3, bob, inst, 2400, 200);
  CHECK_OK(kbk_gateway_apply(g, &bid, 1, rep, 16, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_ACCEPTED && rep[0].seq == 3);
  kbk_quote q;
  CHECK_OK(kbk_gateway_quote(g, inst, &q));
  CHECK(q.has_bid == 1 && q.bid_price == 2400 && q.bid_qty == 200 && q.has_ask == 0 &&
        q.instrument == INST_ID);
  CHECK_OK(kbk_gateway_account(g, bob, &a));
  CHECK(a.reserved == 480000);
  CHECK_OK(kbk_gateway_check_invariants(g));

  /* A refusal is a report and changes nothing. */
  uint8_t before[32], after[32];
  CHECK_OK(kbk_gateway_state_hash(g, before));
  kbk_gateway_order bad = buy(4, 77, inst, 2400, 100);
  CHECK_OK(kbk_gateway_apply(g, &bad, 1, rep, 16, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_REFUSED && rep[0].code != 0 && rep[0].order == 0);
  CHECK(strlen(kbk_refusal_name(rep[0].code)) > 0);

  /* Reports beyond the caller's array stay queued, in order. */
  kbk_gateway_order cancel;
  memset(&cancel, 0, sizeof cancel);
  cancel.tag = 5;
  cancel.account = bob;
  cancel.order = 3;
  cancel.kind = KBK_GATEWAY_CANCEL;
  CHECK_OK(kbk_gateway_apply(g, &cancel, 1, NULL, 0, &n));
  CHECK(n == 0);
  size_t pending = 0;
  CHECK_OK(kbk_gateway_pending_reports(g, &pending));
  CHECK(pending == 2);
  CHECK_OK(kbk_gateway_take_reports(g, rep, 1, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_ACCEPTED && rep[0].tag == 5);
  CHECK_OK(kbk_gateway_take_reports(g, rep, 16, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_DONE && rep[0].code == KBK_GATEWAY_DONE_CANCELLED &&
        rep[0].qty == 200);
  CHECK_OK(kbk_gateway_take_reports(g, rep, 16, &n));
  CHECK(n == 0);
  CHECK_OK(kbk_gateway_account(g, bob, &a));
  CHECK(a.reserved == 0);
  CHECK_OK(kbk_gateway_state_hash(g, after));
  CHECK(memcmp(before, after, 32) != 0);
  CHECK_OK(kbk_gateway_check_invariants(g));

  /* Documents: batch-signed by the register, verify with its key. */
  kbk_keypair *reg = NULL;
  uint8_t seed[32], pk[32];
  memset(seed, 4, sizeof seed);
  CHECK_OK(kbk_keypair_from_seed(seed, &reg));
  CHECK_OK(kbk_keypair_public_key(reg, pk));
  const char *names[2] = {"Alice", "Bob"};
  kbk_gateway_document_info info;
  memset(&info, 0, sizeof info);
  info.register_id = 77;
  info.lifetime = 1000;
  info.register_name = "Register";
  info.register_address = "https://register.example/";
  info.company_name = "Company";
  info.holder_names = names;
  info.holder_names_len = 2;
  info.company_founded = 20010101;
  memset(info.id_secret, 5, 32);
  uint64_t want[3] = {cert, bob_cert, change};
  kbk_message *docs[3] = {NULL, NULL, NULL};
  CHECK_OK(kbk_gateway_documents(g, &info, reg, want, 3, 50, docs, 3, &n));
  CHECK(n == 2); /* serial 1 is spent: no document */
  for (size_t i = 0; i < n; i++) {
    uint8_t kind = 0;
    uint64_t v = 0;
    CHECK_OK(kbk_message_kind(docs[i], &kind));
    CHECK(kind == KBK_KIND_CERTIFICATE);
    CHECK_OK(kbk_certificate_verify(docs[i], 77, pk));
    CHECK_STATUS(kbk_certificate_verify(docs[i], 78, pk), KBK_STATUS_CERT_INVALID);
    CHECK_OK(kbk_message_get_u64(docs[i], KBK_FIELD_HOLDER, 0, &v));
    CHECK(v == (i == 0 ? 2u : 1u));
    CHECK_OK(kbk_message_get_u64(docs[i], KBK_FIELD_CERTIFICATE_NUMBER, 0, &v));
    CHECK(v == want[i + 1]);
    char name[32];
    size_t len = 0;
    CHECK_OK(kbk_message_get_string(docs[i], KBK_FIELD_HOLDER_NAME, 0, name, sizeof name, &len));
    CHECK(strcmp(name, i == 0 ? "Bob" : "Alice") == 0);
  }
  kbk_cert_id id;
  CHECK_OK(kbk_gateway_cert_id(g, bob_cert, info.id_secret, &id));
  CHECK(id.serial == bob_cert);
  /* A flipped byte does not verify. */
  uint8_t wire[2048];
  size_t wl = 0;
  CHECK_OK(kbk_message_bytes(docs[0], wire, sizeof wire, &wl));
  wire[wl - 1] ^= 1;
  kbk_message *flipped = NULL;
  if (kbk_message_decode(wire, wl, &flipped) == KBK_STATUS_OK) {
    CHECK(kbk_certificate_verify(flipped, 77, pk) != KBK_STATUS_OK);
    kbk_message_free(flipped);
  }
  kbk_message_free(docs[0]);
  kbk_message_free(docs[1]);
  kbk_keypair_free(reg);

  /* Determinism: the same flow on a new gateway, the same state hash. */
  uint32_t i2, a2, b2;
  uint64_t c2;
  kbk_gateway *g2 = market(&i2, &a2, &b2, &c2);
  kbk_gateway_order all[5] = {orders[0], orders[1], bid, bad, cancel};
  CHECK_OK(kbk_gateway_apply(g2, all, 5, rep, 16, &n));
  CHECK(n == first_n + 4);
  uint8_t h2[32];
  CHECK_OK(kbk_gateway_state_hash(g2, h2));
  CHECK(memcmp(after, h2, 32) == 0);
  kbk_gateway_free(g2);
  kbk_gateway_free(g);
}

/* ---- callback apply -------------------------------------------------------- */

typedef struct {
  kbk_gateway *g;
  int reports, fills, reentry_refused;
} cb_state;

static void on_report(void *ud, const kbk_gateway_report *r) {
  cb_state *s = (cb_state *)ud;
  kbk_gateway_counters st;
  s->reports++;
  if (r->kind == KBK_GATEWAY_FILL) s->fills++;
  if (kbk_gateway_stats(s->g, &st) == KBK_STATUS_INVALID_HANDLE) s->reentry_refused++;
}

static void callback_apply(void) {
  uint32_t inst, alice, bob;
  uint64_t cert;
  kbk_gateway *g = market(&inst, &alice, &bob, &cert);
  kbk_gateway_order orders[2] = {sell(1, alice, inst, 100, 1000, cert),
                                 buy(2, bob, inst, 100, 400)};
  cb_state s = {g, 0, 0, 0};
  CHECK_OK(kbk_gateway_apply_callback(g, orders, 2, on_report, &s));
  /* accepted x2, fill x2, done (buy) */
  CHECK(s.reports == 5 && s.fills == 2 && s.reentry_refused == 5);
  CHECK_STATUS(kbk_gateway_apply_callback(g, orders, 2, NULL, &s), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_gateway_check_invariants(g));
  kbk_gateway_free(g);
}

/* ---- the runtime ------------------------------------------------------------- */

#define THREADS 3
#define PER_THREAD 60
#define CHUNK 3

typedef struct {
  kbk_gateway_producer *p;
  uint32_t account, inst;
  int seller;
  uint64_t first_cert;
  /* results */
  int fulls, answers, fills, bad;
  uint8_t seen[PER_THREAD + 1];
} job;

static void take(job *j, const kbk_gateway_report *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (r[i].kind == KBK_GATEWAY_ACCEPTED || r[i].kind == KBK_GATEWAY_REFUSED) {
      j->answers++;
      if (r[i].tag < 1 || r[i].tag > PER_THREAD || j->seen[r[i].tag]++) j->bad++;
      if (r[i].kind == KBK_GATEWAY_REFUSED) j->bad++;
    } else if (r[i].kind == KBK_GATEWAY_FILL) {
      j->fills++;
    }
  }
}

static void *producer_thread(void *arg) {
  job *j = (job *)arg;
  kbk_gateway_report rep[8];
  size_t n = 0;
  for (int k = 0; k < PER_THREAD; k += CHUNK) {
    kbk_gateway_order o[CHUNK];
    for (int m = 0; m < CHUNK; m++) {
      uint64_t tag = (uint64_t)(k + m + 1);
      o[m] = j->seller ? sell(tag, j->account, j->inst, 100, 100, j->first_cert + (uint64_t)(k + m))
                       : buy(tag, j->account, j->inst, 100, 100);
    }
    for (;;) {
      kbk_status s = kbk_gateway_producer_submit(j->p, o, CHUNK);
      if (s == KBK_STATUS_OK) break;
      if (s != KBK_STATUS_RUNTIME_FULL) {
        j->bad++;
        break;
      }
      j->fulls++;
      if (kbk_gateway_producer_poll(j->p, rep, 8, &n) != KBK_STATUS_OK) j->bad++;
      take(j, rep, n);
    }
  }
  /* Every order answered exactly once. */
  for (int spins = 0; j->answers < PER_THREAD && spins < 20000; spins++) {
    if (kbk_gateway_producer_poll_timeout(j->p, 1000000, rep, 8, &n) != KBK_STATUS_OK) j->bad++;
    take(j, rep, n);
  }
  return NULL;
}

static void runtime(void) {
  kbk_gateway *g = NULL;
  kbk_gateway_instrument r = rules(INST_ID);
  uint32_t inst = 0, acct[THREADS];
  uint64_t first = 0, serial = 0;
  CHECK_OK(kbk_gateway_new(&g));
  CHECK_OK(kbk_gateway_add_instrument(g, &r, &inst));
  for (int t = 0; t < THREADS; t++)
    CHECK_OK(kbk_gateway_open_account(g, 10 + (uint64_t)t, 100000000, &acct[t]));
  for (int k = 0; k < PER_THREAD; k++) {
    CHECK_OK(kbk_gateway_issue(g, acct[0], inst, 100, &serial));
    if (k == 0) first = serial;
  }
  kbk_gateway_runtime_config cfg;
  CHECK_OK(kbk_gateway_runtime_config_default(&cfg));
  cfg.max_producers = THREADS;
  cfg.queue_batches = 1;
  cfg.batch = 4;
  cfg.report_batches = 2;
  cfg.depth = 3;
  cfg.event_capacity = 4096;

  kbk_gateway_runtime *rt = NULL;
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt));
  /* Lent: every call on the gateway answers IN_USE. */
  kbk_gateway_counters st;
  CHECK_STATUS(kbk_gateway_stats(g, &st), KBK_STATUS_IN_USE);
  CHECK_STATUS(kbk_gateway_issue(g, 0, 0, 100, &serial), KBK_STATUS_IN_USE);
  kbk_gateway_runtime *rt2 = NULL;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt2), KBK_STATUS_IN_USE);
  CHECK(rt2 == NULL);

  kbk_subscriber *sub = NULL;
  CHECK_OK(kbk_gateway_runtime_subscribe(rt, &sub));

  job jobs[THREADS];
  pthread_t th[THREADS];
  memset(jobs, 0, sizeof jobs);
  for (int t = 0; t < THREADS; t++) {
    CHECK_OK(kbk_gateway_runtime_producer_new(rt, &jobs[t].p));
    jobs[t].account = acct[t];
    jobs[t].inst = inst;
    jobs[t].seller = t == 0;
    jobs[t].first_cert = first;
  }
  kbk_gateway_producer *extra = NULL;
  CHECK_STATUS(kbk_gateway_runtime_producer_new(rt, &extra), KBK_STATUS_RUNTIME_NO_PRODUCER);
  CHECK(extra == NULL);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, producer_thread, &jobs[t]) == 0);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
  int fulls = 0, fills = 0;
  for (int t = 0; t < THREADS; t++) {
    CHECK(jobs[t].answers == PER_THREAD);
    CHECK(jobs[t].bad == 0);
    fulls += jobs[t].fulls;
    fills += jobs[t].fills;
  }
  /* 60 sells of 100 against 120 buys of 100 at one price: 60 fills, each
   * reported to the buyer and to the seller; fills of the last orders may
   * still be in flight, so poll the rest. */
  kbk_gateway_report rep[8];
  size_t n = 0;
  for (int spins = 0; fills < 2 * PER_THREAD && spins < 20000; spins++) {
    for (int t = 0; t < THREADS; t++) {
      CHECK_OK(kbk_gateway_producer_poll_timeout(jobs[t].p, 100000, rep, 8, &n));
      take(&jobs[t], rep, n);
      for (size_t i = 0; i < n; i++)
        if (rep[i].kind == KBK_GATEWAY_FILL) fills++;
    }
  }
  CHECK(fills == 2 * PER_THREAD);
  CHECK(fulls > 0); /* the tiny queues pushed back */

  kbk_gateway_runtime_counters rs;
  CHECK_OK(kbk_gateway_runtime_stats(rt, &rs));
  CHECK(rs.orders == THREADS * PER_THREAD);
  uint8_t failed = 9;
  CHECK_OK(kbk_gateway_runtime_failed(rt, &failed));
  CHECK(failed == 0);
  /* Market data: every sell was bought, 60 bids of 100 rest at 100. */
  kbk_quote q;
  for (int spins = 0; spins < 2000; spins++) {
    CHECK_OK(kbk_gateway_runtime_quote(rt, INST_ID, &q));
    if (q.has_bid && q.bid_qty == 100 * PER_THREAD) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  CHECK(q.has_bid == 1 && q.bid_price == 100 && q.bid_qty == 100 * PER_THREAD && q.has_ask == 0);
  kbk_level lv[4];
  CHECK_OK(kbk_gateway_runtime_depth(rt, INST_ID, KBK_SIDE_BUY, lv, 4, &n));
  CHECK(n == 1 && lv[0].price == 100 && lv[0].orders == PER_THREAD);
  CHECK_OK(kbk_gateway_runtime_depth(rt, INST_ID, KBK_SIDE_SELL, lv, 4, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_gateway_runtime_quote(rt, 1, &q), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_runtime_depth(rt, INST_ID, 2, lv, 4, &n), KBK_STATUS_INVALID_ARGUMENT);

  /* Administration while running, in sequence with the orders. */
  kbk_gateway_control *ctl = NULL;
  uint64_t result = 99, late_cert = 0;
  uint32_t late = 0;
  CHECK_OK(kbk_gateway_runtime_open_account(rt, 77, 1000, &ctl));
  CHECK_OK(kbk_gateway_control_wait(ctl, 5000000000ull, &result));
  CHECK(result == THREADS);
  late = (uint32_t)result;
  result = 99;
  CHECK_OK(kbk_gateway_control_wait(ctl, 0, &result)); /* given again */
  CHECK(result == THREADS);
  CHECK_STATUS(kbk_gateway_control_wait(ctl, 3600000000001ull, &result), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_control_wait(ctl, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_gateway_control_free(ctl);
  CHECK_OK(kbk_gateway_runtime_deposit(rt, late, 500, &ctl));
  CHECK_OK(kbk_gateway_control_wait(ctl, 5000000000ull, &result));
  CHECK(result == 0);
  kbk_gateway_control_free(ctl);
  CHECK_OK(kbk_gateway_runtime_issue(rt, late, inst, 300, &ctl));
  CHECK_OK(kbk_gateway_control_wait(ctl, 5000000000ull, &late_cert));
  CHECK(late_cert == 2 * PER_THREAD + 1); /* after the 60 fills' certificates */
  kbk_gateway_control_free(ctl);
  CHECK_OK(kbk_gateway_runtime_deposit(rt, 99, 500, &ctl));
  CHECK_STATUS(kbk_gateway_control_wait(ctl, 5000000000ull, &result), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_gateway_control_wait(ctl, 0, &result), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  kbk_gateway_control_free(ctl);
  CHECK_STATUS(kbk_gateway_runtime_issue(rt, late, inst, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_issue(NULL, late, inst, 1, &ctl), KBK_STATUS_NULL_ARGUMENT);
  kbk_gateway_control_free(NULL);

  /* Shutdown with another gateway is refused; with the right one it
   * gives the state back. */
  kbk_gateway *other = NULL;
  CHECK_OK(kbk_gateway_new(&other));
  CHECK_STATUS(kbk_gateway_runtime_shutdown(rt, other, &rs), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_shutdown(rt, NULL, &rs), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_shutdown(rt, g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_stats(g, &st), KBK_STATUS_IN_USE);
  kbk_gateway_free(other);
  memset(&rs, 0, sizeof rs);
  CHECK_OK(kbk_gateway_runtime_shutdown(rt, g, &rs));
  CHECK(rs.orders == THREADS * PER_THREAD && rs.batches > 0 && rs.reports > 0);
  /* The event stream stays readable after shutdown: every trade is in it. */
  int trades = 0;
  kbk_market_event ev;
  for (;;) {
    kbk_status s = kbk_subscriber_poll(sub, &ev);
    if (s != KBK_STATUS_OK) {
      CHECK(s == KBK_STATUS_NOT_FOUND);
      break;
    }
    CHECK(ev.instrument == INST_ID);
    if (ev.event.kind == KBK_EVENT_TRADE) trades++;
  }
  CHECK(trades == PER_THREAD);
  CHECK_OK(kbk_gateway_stats(g, &st));
  CHECK(st.requests == THREADS * PER_THREAD && st.accepted == THREADS * PER_THREAD &&
        st.fills == PER_THREAD);
  CHECK_OK(kbk_gateway_check_invariants(g));
  uint64_t shares = 0;
  CHECK_OK(kbk_gateway_shares_of(g, acct[0], inst, &shares));
  CHECK(shares == 0);
  CHECK_OK(kbk_gateway_shares_of(g, acct[1], inst, &shares));
  uint64_t s2 = 0;
  CHECK_OK(kbk_gateway_shares_of(g, acct[2], inst, &s2));
  CHECK(shares + s2 == 100 * PER_THREAD);
  kbk_gateway_account_info a;
  CHECK_OK(kbk_gateway_account(g, acct[0], &a));
  CHECK(a.cash == 100000000 + 100 * 100 * PER_THREAD);

  /* After shutdown: closed, but the counters stay readable. */
  kbk_gateway_order o = buy(1, acct[1], inst, 100, 100);
  CHECK_STATUS(kbk_gateway_producer_submit(jobs[1].p, &o, 1), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_producer_submit_wait(jobs[1].p, &o, 1), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_runtime_shutdown(rt, g, &rs), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_runtime_quote(rt, INST_ID, &q), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_runtime_producer_new(rt, &extra), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_runtime_subscribe(rt, &sub), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_STATUS(kbk_gateway_runtime_failed(rt, &failed), KBK_STATUS_RUNTIME_CLOSED);
  CHECK_OK(kbk_gateway_runtime_stats(rt, &rs));
  CHECK(rs.orders == THREADS * PER_THREAD);
  CHECK_STATUS(kbk_gateway_runtime_deposit(rt, late, 1, &ctl), KBK_STATUS_RUNTIME_CLOSED);
  /* What the controls did is in the state given back. */
  CHECK_OK(kbk_gateway_account(g, late, &a));
  CHECK(a.owner == 77 && a.cash == 1500);
  CHECK_OK(kbk_gateway_shares_of(g, late, inst, &shares));
  CHECK(shares == 300);
  /* The gateway works synchronously again. */
  CHECK_OK(kbk_gateway_apply(g, &o, 1, rep, 8, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_ACCEPTED);

  for (int t = 0; t < THREADS; t++) kbk_gateway_producer_free(jobs[t].p);
  kbk_subscriber_free(sub);
  kbk_gateway_runtime_free(rt);

  /* submit_wait: a tiny queue, one thread, everything goes in. */
  kbk_gateway_runtime *rt3 = NULL;
  kbk_gateway_producer *p = NULL;
  cfg.max_producers = 1;
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt3));
  CHECK_OK(kbk_gateway_runtime_producer_new(rt3, &p));
  kbk_gateway_order many[50];
  for (int k = 0; k < 50; k++) many[k] = buy((uint64_t)k + 1, acct[1], inst, 90, 100);
  /* More than the queue ever holds (batch 4 x 1 batch): refused whole. */
  CHECK_STATUS(kbk_gateway_producer_submit(p, many, 5), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_OK(kbk_gateway_producer_submit_wait(p, many, 50));
  size_t queued = 99;
  CHECK_OK(kbk_gateway_producer_queued_batches(p, &queued));
  CHECK(queued <= 1);
  /* Shut down with reports unpolled: they stay with the producer. */
  CHECK_OK(kbk_gateway_runtime_shutdown(rt3, g, &rs));
  int got = 0;
  size_t pend = 0;
  for (;;) {
    CHECK_OK(kbk_gateway_producer_poll(p, rep, 8, &n));
    if (n == 0) break;
    got += (int)n;
  }
  CHECK(got == 50);
  CHECK_OK(kbk_gateway_producer_pending(p, &pend));
  CHECK(pend == 0);
  kbk_gateway_producer_free(p);
  kbk_gateway_runtime_free(rt3);
  CHECK_OK(kbk_gateway_check_invariants(g));

  /* Reports taken from the runtime but not yet polled by C count against
   * the producer's report credit (report_batches x batch = 1). */
  kbk_gateway_runtime *rt5 = NULL;
  cfg.batch = 1;
  cfg.report_batches = 1;
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt5));
  CHECK_OK(kbk_gateway_runtime_producer_new(rt5, &p));
  CHECK_OK(kbk_gateway_producer_submit(p, many, 1));
  for (int spins = 0; spins < 5000; spins++) {
    CHECK_OK(kbk_gateway_runtime_stats(rt5, &rs));
    if (rs.reports >= 1) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  CHECK_OK(kbk_gateway_producer_poll(p, NULL, 0, &n)); /* into the stash, none to C */
  CHECK(n == 0);
  CHECK_OK(kbk_gateway_producer_pending(p, &pend));
  CHECK(pend == 1);
  CHECK_STATUS(kbk_gateway_producer_submit(p, many + 1, 1), KBK_STATUS_RUNTIME_FULL);
  CHECK_OK(kbk_gateway_producer_poll(p, rep, 8, &n));
  CHECK(n == 1 && rep[0].tag == 1);
  CHECK_OK(kbk_gateway_producer_submit(p, many + 1, 1));
  CHECK_OK(kbk_gateway_runtime_shutdown(rt5, g, &rs));
  CHECK(rs.orders == 2);
  kbk_gateway_producer_free(p);
  kbk_gateway_runtime_free(rt5);

  /* Freeing a running runtime drops the state: the gateway stays IN_USE. */
  kbk_gateway_runtime *rt4 = NULL;
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt4));
  kbk_gateway_runtime_free(rt4);
  CHECK_STATUS(kbk_gateway_stats(g, &st), KBK_STATUS_IN_USE);
  kbk_gateway_free(g);
}

/* ---- bad input ----------------------------------------------------------------- */

static void bad_input(void) {
  uint32_t inst, alice, bob, u = 0;
  uint64_t cert, v = 0;
  size_t n = 0;
  kbk_gateway *g = market(&inst, &alice, &bob, &cert);
  kbk_gateway_report rep[8];
  kbk_gateway_instrument r = rules(1);
  uint8_t h0[32], h1[32];
  CHECK_OK(kbk_gateway_state_hash(g, h0));

  /* NULL handles and outputs. */
  CHECK_STATUS(kbk_gateway_new(NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_reserve(NULL, 1, 1), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_add_instrument(NULL, &r, &u), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_add_instrument(g, NULL, &u), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_add_instrument(g, &r, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_instrument_index(g, INST_ID, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_open_account(g, 3, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_deposit(NULL, 0, 1), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_issue(g, alice, inst, 100, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_apply(g, NULL, 1, rep, 8, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_apply(g, NULL, 0, rep, 8, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_apply(g, NULL, 0, NULL, 8, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_take_reports(g, rep, 8, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_pending_reports(g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_account(g, alice, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_certificate(g, cert, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_order_by_number(g, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_shares_of(g, alice, inst, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_holdings(g, alice, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_transfer_count(g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_transfer(g, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_stats(NULL, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_quote(g, inst, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_check_invariants(NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_state_hash(g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_cert_id(g, cert, NULL, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_config_default(NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_gateway_free(NULL);
  kbk_gateway_runtime_free(NULL);
  kbk_gateway_producer_free(NULL);

  /* A handle of another type. */
  kbk_keypair *k = NULL;
  uint8_t seed[32] = {1};
  CHECK_OK(kbk_keypair_from_seed(seed, &k));
  kbk_gateway_counters st;
  CHECK_STATUS(kbk_gateway_stats((kbk_gateway *)k, &st), KBK_STATUS_INVALID_HANDLE);
  CHECK_STATUS(kbk_gateway_runtime_stats((const kbk_gateway_runtime *)k, NULL),
               KBK_STATUS_INVALID_HANDLE);
  CHECK_STATUS(kbk_gateway_producer_submit((kbk_gateway_producer *)k, NULL, 0),
               KBK_STATUS_INVALID_HANDLE);
  kbk_gateway_free((kbk_gateway *)k); /* refused quietly: not a gateway */
  CHECK_OK(kbk_keypair_public_key(k, h1));

  /* Set-up refusals. */
  r.lot_size = 0;
  CHECK_STATUS(kbk_gateway_add_instrument(g, &r, &u), KBK_STATUS_GATEWAY_BAD_INSTRUMENT);
  r = rules(1);
  r.band_high = 0;
  CHECK_STATUS(kbk_gateway_add_instrument(g, &r, &u), KBK_STATUS_GATEWAY_BAD_INSTRUMENT);
  r = rules(1);
  r.reserved = 1;
  CHECK_STATUS(kbk_gateway_add_instrument(g, &r, &u), KBK_STATUS_INVALID_ARGUMENT);
  r = rules(INST_ID);
  CHECK_STATUS(kbk_gateway_add_instrument(g, &r, &u), KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT);
  CHECK_STATUS(kbk_gateway_instrument_index(g, 1, &u), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_open_account(g, 3, -1, &u), KBK_STATUS_GATEWAY_BAD_AMOUNT);
  CHECK_STATUS(kbk_gateway_deposit(g, 9, 1), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_gateway_deposit(g, alice, 0), KBK_STATUS_GATEWAY_BAD_AMOUNT);
  CHECK_STATUS(kbk_gateway_deposit(g, bob, INT64_MAX), KBK_STATUS_GATEWAY_OVERFLOW);
  CHECK_STATUS(kbk_gateway_issue(g, 9, inst, 100, &v), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_gateway_issue(g, alice, 9, 100, &v), KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT);
  CHECK_STATUS(kbk_gateway_issue(g, alice, inst, 0, &v), KBK_STATUS_GATEWAY_BAD_AMOUNT);
  CHECK_STATUS(kbk_gateway_reserve(g, (size_t)1 << 31, 0), KBK_STATUS_INVALID_ARGUMENT);

  /* Orders out of range: nothing applied. */
  kbk_gateway_order o[2] = {buy(1, bob, inst, 100, 100), buy(2, bob, inst, 100, 100)};
  o[1].kind = 3;
  CHECK_STATUS(kbk_gateway_apply(g, o, 2, rep, 8, &n), KBK_STATUS_INVALID_ARGUMENT);
  o[1].kind = KBK_GATEWAY_BUY;
  o[1].tif = 4;
  CHECK_STATUS(kbk_gateway_apply(g, o, 2, rep, 8, &n), KBK_STATUS_INVALID_ARGUMENT);
  o[1].tif = KBK_GATEWAY_TIF_FOK;
  o[1].reserved[5] = 1;
  CHECK_STATUS(kbk_gateway_apply(g, o, 2, rep, 8, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_apply_callback(g, o, 2, on_report, NULL), KBK_STATUS_INVALID_ARGUMENT);
  char msg[256];
  size_t ml = 0;
  CHECK_OK(kbk_last_error(msg, sizeof msg, &ml));
  CHECK(strstr(msg, "orders[1]") != NULL);

  /* Queries out of range. */
  kbk_gateway_account_info a;
  kbk_gateway_cert_info c;
  kbk_gateway_order_info oi;
  kbk_gateway_transfer_info t;
  kbk_quote q;
  uint64_t serials[1];
  CHECK_STATUS(kbk_gateway_account(g, 9, &a), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_gateway_certificate(g, 0, &c), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_certificate(g, 99, &c), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_order_by_number(g, 0, &oi), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_order_by_number(g, UINT64_MAX, &oi), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_transfer(g, 0, &t), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_gateway_shares_of(g, 9, inst, &v), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_gateway_shares_of(g, alice, 9, &v), KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT);
  CHECK_STATUS(kbk_gateway_quote(g, 9, &q), KBK_STATUS_GATEWAY_UNKNOWN_INSTRUMENT);
  CHECK_STATUS(kbk_gateway_holdings(g, 9, serials, 1, &n), KBK_STATUS_GATEWAY_UNKNOWN_ACCOUNT);
  CHECK_OK(kbk_gateway_issue(g, alice, inst, 100, &v));
  CHECK_STATUS(kbk_gateway_holdings(g, alice, serials, 1, &n), KBK_STATUS_BUFFER_TOO_SMALL);
  uint8_t secret[32] = {0};
  kbk_cert_id id;
  CHECK_STATUS(kbk_gateway_cert_id(g, 99, secret, &id), KBK_STATUS_NOT_FOUND);

  /* Documents: arguments checked first. */
  kbk_gateway_document_info info;
  memset(&info, 0, sizeof info);
  info.register_name = "R";
  info.register_address = "A";
  info.company_name = "C";
  kbk_message *docs[2] = {NULL, NULL};
  uint64_t want[2] = {cert, v};
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 1, &n),
               KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_gateway_documents(g, NULL, k, want, 2, 0, docs, 2, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_documents(g, &info, NULL, want, 2, 0, docs, 2, &n),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, NULL, 2, 0, docs, 2, &n), KBK_STATUS_NULL_ARGUMENT);
  info.company_name = NULL;
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 2, &n), KBK_STATUS_NULL_ARGUMENT);
  info.company_name = "\xff\xfe";
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 2, &n), KBK_STATUS_INVALID_UTF8);
  info.company_name = "C";
  info.holder_names_len = 1;
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 2, &n), KBK_STATUS_NULL_ARGUMENT);
  info.holder_names_len = 0;
  info.reserved = 1;
  CHECK_STATUS(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 2, &n),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK(docs[0] == NULL && docs[1] == NULL);
  info.reserved = 0;
  CHECK_OK(kbk_gateway_documents(g, &info, k, want, 2, 0, docs, 2, &n));
  CHECK(n == 2 && docs[0] && docs[1]);
  kbk_message_free(docs[0]);
  kbk_message_free(docs[1]);

  /* Runtime configuration out of range: the gateway keeps its state. */
  kbk_gateway_runtime_config cfg;
  kbk_gateway_runtime *rt = NULL;
  CHECK_OK(kbk_gateway_runtime_config_default(&cfg));
  CHECK(cfg.max_producers >= 1 && cfg.batch >= 1 && cfg.keep_transfers == 1);
  size_t *fields[4] = {&cfg.max_producers, &cfg.queue_batches, &cfg.batch, &cfg.report_batches};
  for (int f = 0; f < 4; f++) {
    size_t keep = *fields[f];
    *fields[f] = 0;
    CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
    *fields[f] = keep;
  }
  cfg.max_producers = 65536;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
  cfg.max_producers = 2;
  cfg.depth = 1025;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
  cfg.depth = 0;
  cfg.keep_transfers = 2;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
  cfg.keep_transfers = 1;
  cfg.reserved[0] = 1;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
  cfg.reserved[0] = 0;
  CHECK_STATUS(kbk_gateway_runtime_start(NULL, &cfg, &rt), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_start(g, NULL, &rt), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(rt == NULL);
  CHECK_OK(kbk_gateway_stats(g, &st)); /* not lent */

  /* The runtime and producers with bad input. */
  cfg.event_capacity = 0;
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt));
  kbk_gateway_producer *p = NULL;
  kbk_subscriber *sub = NULL;
  CHECK_STATUS(kbk_gateway_runtime_subscribe(rt, &sub), KBK_STATUS_NOT_FOUND); /* no stream */
  CHECK_STATUS(kbk_gateway_runtime_quote(rt, INST_ID, &q), KBK_STATUS_NOT_FOUND); /* depth 0 */
  CHECK_STATUS(kbk_gateway_runtime_producer_new(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_producer_new(NULL, &p), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_gateway_runtime_producer_new(rt, &p));
  CHECK_STATUS(kbk_gateway_producer_submit(p, NULL, 1), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_gateway_producer_submit(p, NULL, 0));
  CHECK_STATUS(kbk_gateway_producer_submit(p, o, 2), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_submit_wait(p, o, 2), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_poll(p, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_poll(p, rep, 8, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_poll_timeout(p, 3600000000001ull, rep, 8, &n),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_pending(p, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_producer_queued_batches(p, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_stats(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_failed(rt, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_gateway_runtime_counters rs;
  CHECK_STATUS(kbk_gateway_runtime_shutdown(NULL, g, &rs), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_gateway_runtime_shutdown(rt, g, &rs));
  CHECK(rs.orders == 0);
  CHECK_OK(kbk_gateway_producer_poll(p, rep, 8, &n));
  CHECK(n == 0);
  kbk_gateway_producer_free(p);
  kbk_gateway_runtime_free(rt);

  /* Nothing of the refused calls changed the state (the issue and the
   * documents did, so compare with a gateway that made only those). */
  CHECK_OK(kbk_gateway_check_invariants(g));
  CHECK_OK(kbk_gateway_stats(g, &st));
  CHECK(st.requests == 0 && st.orders == 0 && st.certificates == 2 && st.instruments == 1 &&
        st.accounts == 2);
  CHECK_OK(kbk_gateway_account(g, bob, &a));
  CHECK(a.cash == 10000000);
  kbk_keypair_free(k);
  kbk_gateway_free(g);
}

/* Day orders expire at the end of the day, synchronously and on a running
 * gateway (in sequence, reports to the order's producer); sequence numbers
 * continue from the synchronous calls into the runtime. */
static void day_orders(void) {
  uint32_t inst = 0, alice = 0, bob = 0;
  uint64_t cert = 0, expired = 9, next = 0;
  kbk_gateway *g = market(&inst, &alice, &bob, &cert);
  kbk_gateway_order o[2] = {sell(1, alice, inst, 3000, 300, cert), buy(2, bob, inst, 2000, 100)};
  o[0].tif = KBK_GATEWAY_TIF_DAY;
  kbk_gateway_report rep[16];
  size_t n = 0;
  CHECK_OK(kbk_gateway_apply(g, o, 2, rep, 16, &n));
  CHECK(n == 2);
  CHECK_OK(kbk_gateway_end_of_day(g, &expired));
  CHECK(expired == 1);
  CHECK_OK(kbk_gateway_take_reports(g, rep, 16, &n));
  CHECK(n == 1 && rep[0].kind == KBK_GATEWAY_DONE && rep[0].code == KBK_GATEWAY_DONE_EXPIRED &&
        rep[0].tag == 1 && rep[0].qty == 300 && rep[0].cert == cert && rep[0].seq == 3);
  kbk_gateway_cert_info c;
  CHECK_OK(kbk_gateway_certificate(g, cert, &c));
  CHECK(c.state == KBK_GATEWAY_CERT_LIVE);
  CHECK_OK(kbk_gateway_next_seq(g, &next));
  CHECK(next == 4);
  CHECK_OK(kbk_gateway_check_invariants(g));

  /* A bad configuration: refused, and the gateway keeps its state. */
  kbk_gateway_runtime_config cfg;
  CHECK_OK(kbk_gateway_runtime_config_default(&cfg));
  kbk_gateway_runtime *rt = NULL;
  cfg.batch = 0;
  CHECK_STATUS(kbk_gateway_runtime_start(g, &cfg, &rt), KBK_STATUS_INVALID_ARGUMENT);
  CHECK(rt == NULL);
  CHECK_OK(kbk_gateway_next_seq(g, &next));
  CHECK(next == 4);

  /* On the runtime: a day buy from a producer, then the end of day. */
  CHECK_OK(kbk_gateway_runtime_config_default(&cfg));
  CHECK_OK(kbk_gateway_runtime_start(g, &cfg, &rt));
  kbk_gateway_producer *p = NULL;
  CHECK_OK(kbk_gateway_runtime_producer_new(rt, &p));
  kbk_gateway_order day = buy(7, bob, inst, 2100, 200);
  day.tif = KBK_GATEWAY_TIF_DAY;
  CHECK_OK(kbk_gateway_producer_submit_wait(p, &day, 1));
  kbk_gateway_control *ctl = NULL;
  uint64_t result = 0;
  CHECK_OK(kbk_gateway_runtime_end_of_day(rt, &ctl));
  CHECK_OK(kbk_gateway_control_wait(ctl, 5000000000ull, &result));
  CHECK(result == 1);
  kbk_gateway_control_free(ctl);
  kbk_gateway_report got[8];
  size_t have = 0;
  for (int tries = 0; tries < 100 && have < 2; tries++) {
    size_t k = 0;
    CHECK_OK(kbk_gateway_producer_poll_timeout(p, 50000000ull, got + have, 8 - have, &k));
    have += k;
  }
  CHECK(have == 2);
  CHECK(got[0].kind == KBK_GATEWAY_ACCEPTED && got[0].seq == 4);
  CHECK(got[1].kind == KBK_GATEWAY_DONE && got[1].code == KBK_GATEWAY_DONE_EXPIRED &&
        got[1].tag == 7 && got[1].seq == 5);
  kbk_gateway_runtime_counters rc;
  CHECK_OK(kbk_gateway_runtime_shutdown(rt, g, &rc));
  kbk_gateway_producer_free(p);
  kbk_gateway_runtime_free(rt);
  kbk_gateway_account_info a;
  CHECK_OK(kbk_gateway_account(g, bob, &a));
  CHECK(a.reserved == 200000); /* the GTC bid of 100 at 2000 stays */
  CHECK_OK(kbk_gateway_check_invariants(g));
  /* Bad input. */
  CHECK_STATUS(kbk_gateway_end_of_day(NULL, &expired), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_end_of_day(g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_next_seq(g, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_gateway_runtime_end_of_day(NULL, &ctl), KBK_STATUS_NULL_ARGUMENT);
  o[0].tif = 4;
  CHECK_STATUS(kbk_gateway_apply(g, o, 1, rep, 16, &n), KBK_STATUS_INVALID_ARGUMENT);
  kbk_gateway_free(g);
}

int main(void) {
  session();
  day_orders();
  callback_apply();
  runtime();
  bad_input();
  return check_done("test_gateway");
}
