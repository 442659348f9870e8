/* The order book and the market through the C ABI: every command and
 * order type, queries, the event callback, batches, and bad input. */
#include <stdlib.h>
#include "check.h"

#define MAX_EVENTS 256
typedef struct {
  kbk_event ev[MAX_EVENTS];
  size_t n;
} events;

static void on_event(void *ud, const kbk_event *e) {
  events *es = (events *)ud;
  if (es->n < MAX_EVENTS) es->ev[es->n++] = *e;
}

static size_t count_kind(const events *es, uint8_t kind) {
  size_t c = 0;
  for (size_t i = 0; i < es->n; i++) c += es->ev[i].kind == kind;
  return c;
}

static kbk_order limit(uint64_t id, uint8_t side, int64_t price, uint64_t qty) {
  kbk_order o;
  memset(&o, 0, sizeof o);
  o.id = id;
  o.side = side;
  o.price = price;
  o.qty = qty;
  o.order_type = KBK_ORDER_LIMIT;
  o.tif = KBK_TIF_GTC;
  return o;
}

static kbk_command cmd_new(uint64_t id, uint8_t side, int64_t price, uint64_t qty) {
  kbk_command c;
  memset(&c, 0, sizeof c);
  c.kind = KBK_CMD_NEW;
  c.id = id;
  c.side = side;
  c.price = price;
  c.qty = qty;
  return c;
}

/* A callback that tries to call back into its own book. */
static kbk_status reentry_status = 0;
static void reenter(void *ud, const kbk_event *e) {
  (void)e;
  size_t n = 0;
  reentry_status = kbk_book_len((kbk_book *)ud, &n);
}

static void test_config(void) {
  kbk_book_config c, f;
  CHECK_OK(kbk_book_config_default(&c));
  CHECK(c.lot_size == 1 && c.modify_priority == KBK_MODIFY_KEEP_ON_DECREASE);
  CHECK_OK(kbk_book_config_flash(&f));
  CHECK(f.modify_priority == KBK_MODIFY_ALWAYS_LOSE);
  CHECK_STATUS(kbk_book_config_flash(NULL), KBK_STATUS_NULL_ARGUMENT);

  kbk_book *b = (kbk_book *)0x1;
  c.lot_size = 0;
  CHECK_STATUS(kbk_book_new(&c, &b), KBK_STATUS_BOOK_INVALID_CONFIG);
  CHECK(b == (kbk_book *)0x1); /* not written on failure */
  c.lot_size = 1;
  c.modify_priority = 7;
  CHECK_STATUS(kbk_book_new(&c, &b), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_book_new(NULL, NULL), KBK_STATUS_NULL_ARGUMENT);
  c.modify_priority = KBK_MODIFY_KEEP_ON_DECREASE;
  c.lot_size = 10;
  c.min_price = 1;
  c.max_price = 1000;
  CHECK_OK(kbk_book_new(&c, &b));
  kbk_book_config got;
  CHECK_OK(kbk_book_config_get(b, &got));
  CHECK(got.lot_size == 10 && got.max_price == 1000);
  CHECK_STATUS(kbk_book_config_get(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_order o = limit(1, KBK_SIDE_BUY, 100, 15);
  CHECK_STATUS(kbk_book_submit(b, &o), KBK_STATUS_BOOK_LOT_SIZE);
  o.qty = 10;
  o.price = 5000;
  CHECK_STATUS(kbk_book_submit(b, &o), KBK_STATUS_BOOK_PRICE_OUT_OF_RANGE);
  o.qty = 0;
  o.price = 100;
  CHECK_STATUS(kbk_book_submit(b, &o), KBK_STATUS_BOOK_INVALID_QUANTITY);
  c.max_orders = 1;
  c.lot_size = 1;
  kbk_book *tiny = NULL;
  CHECK_OK(kbk_book_new(&c, &tiny));
  o = limit(1, KBK_SIDE_BUY, 100, 1);
  CHECK_OK(kbk_book_submit(tiny, &o));
  o.id = 2;
  CHECK_STATUS(kbk_book_submit(tiny, &o), KBK_STATUS_BOOK_FULL);
  kbk_book_free(tiny);
  kbk_book_free(b);
}

static void test_orders_and_events(void) {
  kbk_book *b = NULL;
  CHECK_OK(kbk_book_new(NULL, &b));
  CHECK(b != NULL);
  events es;
  memset(&es, 0, sizeof es);
  CHECK_OK(kbk_book_set_event_callback(b, on_event, &es));
  CHECK_OK(kbk_book_reserve(b, 1024));
  CHECK_STATUS(kbk_book_reserve(b, (size_t)1 << 40), KBK_STATUS_INVALID_ARGUMENT);

  /* limit orders rest; a crossing IOC trades at the maker's price */
  kbk_order s1 = limit(1, KBK_SIDE_SELL, 10050, 300);
  CHECK_OK(kbk_book_submit(b, &s1));
  CHECK(es.n == 1 && es.ev[0].kind == KBK_EVENT_ACCEPTED && es.ev[0].id == 1);
  kbk_order b1 = limit(2, KBK_SIDE_BUY, 10060, 100);
  b1.tif = KBK_TIF_IOC;
  CHECK_OK(kbk_book_submit(b, &b1));
  CHECK(count_kind(&es, KBK_EVENT_TRADE) == 1);
  kbk_event t = es.ev[2];
  CHECK(t.kind == KBK_EVENT_TRADE && t.id == 1 && t.other_id == 2 && t.price == 10050 &&
        t.qty == 100 && t.remaining == 200 && t.other_remaining == 0 &&
        t.side == KBK_SIDE_BUY);
  kbk_level l;
  CHECK_OK(kbk_book_best(b, KBK_SIDE_SELL, &l));
  CHECK(l.price == 10050 && l.qty == 200 && l.orders == 1);
  CHECK_STATUS(kbk_book_best(b, KBK_SIDE_BUY, &l), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_book_best(b, 2, &l), KBK_STATUS_INVALID_ARGUMENT);

  /* duplicate id: status and a rejected event */
  es.n = 0;
  CHECK_STATUS(kbk_book_submit(b, &s1), KBK_STATUS_BOOK_DUPLICATE_ID);
  CHECK(es.n == 1 && es.ev[0].kind == KBK_EVENT_REJECTED &&
        es.ev[0].command == KBK_CMD_NEW &&
        100u + es.ev[0].reason == KBK_STATUS_BOOK_DUPLICATE_ID);

  /* market orders: IOC ok, GTC market is an invalid type */
  es.n = 0;
  kbk_order m = limit(3, KBK_SIDE_BUY, 0, 50);
  m.order_type = KBK_ORDER_MARKET;
  m.tif = KBK_TIF_IOC;
  CHECK_OK(kbk_book_submit(b, &m));
  CHECK(es.ev[0].kind == KBK_EVENT_ACCEPTED && es.ev[0].has_price == 0);
  m.id = 4;
  m.tif = KBK_TIF_GTC;
  CHECK_STATUS(kbk_book_submit(b, &m), KBK_STATUS_BOOK_INVALID_ORDER_TYPE);

  /* FOK that cannot fill: cancelled with the fill-or-kill reason */
  es.n = 0;
  kbk_order fok = limit(5, KBK_SIDE_BUY, 10050, 1000);
  fok.tif = KBK_TIF_FOK;
  CHECK_OK(kbk_book_submit(b, &fok));
  CHECK(es.n == 2 && es.ev[1].kind == KBK_EVENT_CANCELLED &&
        es.ev[1].reason == KBK_CANCEL_FILL_OR_KILL);

  /* post-only that would cross */
  kbk_order po = limit(6, KBK_SIDE_BUY, 10050, 10);
  po.post_only = 1;
  CHECK_STATUS(kbk_book_submit(b, &po), KBK_STATUS_BOOK_POST_ONLY_WOULD_CROSS);
  po.price = 10000;
  CHECK_OK(kbk_book_submit(b, &po));

  /* day and GTD orders */
  kbk_order day = limit(7, KBK_SIDE_BUY, 9990, 10);
  day.tif = KBK_TIF_DAY;
  CHECK_OK(kbk_book_submit(b, &day));
  kbk_order gtd = limit(8, KBK_SIDE_BUY, 9980, 10);
  gtd.tif = KBK_TIF_GTD;
  gtd.expire = 500;
  CHECK_OK(kbk_book_submit(b, &gtd));
  kbk_order_info oi;
  CHECK_OK(kbk_book_order(b, 8, &oi));
  CHECK(oi.tif == KBK_TIF_GTD && oi.expire == 500 && oi.qty == 10);
  CHECK_STATUS(kbk_book_order(b, 999, &oi), KBK_STATUS_NOT_FOUND);
  es.n = 0;
  CHECK_OK(kbk_book_advance_time(b, 600));
  CHECK(es.n == 1 && es.ev[0].kind == KBK_EVENT_CANCELLED && es.ev[0].id == 8 &&
        es.ev[0].reason == KBK_CANCEL_EXPIRED);
  uint64_t now = 0;
  CHECK_OK(kbk_book_now(b, &now));
  CHECK(now == 600);
  gtd.id = 9;
  gtd.expire = 100;
  CHECK_STATUS(kbk_book_submit(b, &gtd), KBK_STATUS_BOOK_ALREADY_EXPIRED);
  es.n = 0;
  CHECK_OK(kbk_book_expire_day(b));
  CHECK(es.n == 1 && es.ev[0].id == 7);

  /* reduce keeps priority; modify; cancel */
  es.n = 0;
  CHECK_OK(kbk_book_reduce(b, 6, 4));
  CHECK(es.n == 1 && es.ev[0].kind == KBK_EVENT_REDUCED && es.ev[0].remaining == 6);
  CHECK_STATUS(kbk_book_reduce(b, 12345, 1), KBK_STATUS_BOOK_UNKNOWN_ORDER);
  es.n = 0;
  CHECK_OK(kbk_book_modify(b, 6, 10010, 20));
  CHECK(es.ev[0].kind == KBK_EVENT_MODIFIED && es.ev[0].price == 10010);
  CHECK_STATUS(kbk_book_modify(b, 12345, 1, 1), KBK_STATUS_BOOK_UNKNOWN_ORDER);
  es.n = 0;
  CHECK_OK(kbk_book_cancel(b, 6));
  CHECK(es.n == 1 && es.ev[0].kind == KBK_EVENT_CANCELLED &&
        es.ev[0].reason == KBK_CANCEL_REQUESTED);
  CHECK_STATUS(kbk_book_cancel(b, 6), KBK_STATUS_BOOK_UNKNOWN_ORDER);

  /* self-trade prevention, every mode value accepted, 5 refused */
  kbk_order own = limit(20, KBK_SIDE_BUY, 10050, 10);
  own.owner = 77;
  own.stp = KBK_STP_CANCEL_NEWEST;
  kbk_order mine = limit(21, KBK_SIDE_SELL, 10040, 5);
  mine.owner = 77;
  CHECK_OK(kbk_book_submit(b, &mine));
  es.n = 0;
  CHECK_OK(kbk_book_submit(b, &own));
  CHECK(count_kind(&es, KBK_EVENT_TRADE) == 0);
  CHECK(es.ev[es.n - 1].kind == KBK_EVENT_CANCELLED &&
        es.ev[es.n - 1].reason == KBK_CANCEL_SELF_TRADE);
  own.id = 22;
  own.stp = KBK_STP_DECREMENT;
  own.qty = 2;
  es.n = 0;
  CHECK_OK(kbk_book_submit(b, &own));
  CHECK(count_kind(&es, KBK_EVENT_REDUCED) == 1);
  own.id = 23;
  own.stp = KBK_STP_CANCEL_OLDEST;
  CHECK_OK(kbk_book_submit(b, &own));
  own.id = 24;
  own.stp = KBK_STP_CANCEL_BOTH;
  CHECK_OK(kbk_book_submit(b, &own));

  /* bad input: nothing changes, no event */
  uint8_t hash_before[32], hash_after[32];
  CHECK_OK(kbk_book_state_hash(b, hash_before));
  es.n = 0;
  kbk_order bad = limit(30, 2, 100, 1);
  CHECK_STATUS(kbk_book_submit(b, &bad), KBK_STATUS_INVALID_ARGUMENT);
  bad = limit(30, KBK_SIDE_BUY, 100, 1);
  bad.order_type = 2;
  CHECK_STATUS(kbk_book_submit(b, &bad), KBK_STATUS_INVALID_ARGUMENT);
  bad.order_type = 0;
  bad.tif = 5;
  CHECK_STATUS(kbk_book_submit(b, &bad), KBK_STATUS_INVALID_ARGUMENT);
  bad.tif = 0;
  bad.post_only = 2;
  CHECK_STATUS(kbk_book_submit(b, &bad), KBK_STATUS_INVALID_ARGUMENT);
  bad.post_only = 0;
  bad.stp = 5;
  CHECK_STATUS(kbk_book_submit(b, &bad), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_book_submit(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_submit(NULL, &bad), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_state_hash(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_book_state_hash(b, hash_after));
  CHECK(memcmp(hash_before, hash_after, 32) == 0 && es.n == 0);

  /* a handle of another type is refused */
  kbk_market *mk = NULL;
  CHECK_OK(kbk_market_new(&mk));
  CHECK_STATUS(kbk_book_cancel((kbk_book *)mk, 1), KBK_STATUS_INVALID_HANDLE);
  kbk_book_free((kbk_book *)mk); /* wrong type: ignored, not freed */
  kbk_market_free(mk);

  /* a callback calling back into its own book is refused */
  CHECK_OK(kbk_book_set_event_callback(b, reenter, b));
  kbk_order r = limit(40, KBK_SIDE_BUY, 1, 1);
  CHECK_OK(kbk_book_submit(b, &r));
  CHECK(reentry_status == KBK_STATUS_INVALID_HANDLE);
  CHECK_OK(kbk_book_set_event_callback(b, NULL, NULL));
  CHECK_OK(kbk_book_cancel(b, 40)); /* no callback: events dropped */

  /* clear */
  size_t len = 0;
  CHECK_OK(kbk_book_clear(b));
  CHECK_OK(kbk_book_len(b, &len));
  CHECK(len == 0);
  CHECK_STATUS(kbk_book_len(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_now(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_book_free(b);
  kbk_book_free(NULL);
}

static void test_queries(void) {
  kbk_book *b = NULL;
  CHECK_OK(kbk_book_new(NULL, &b));
  for (uint64_t i = 0; i < 10; i++) {
    kbk_order o = limit(100 + i, KBK_SIDE_BUY, 1000 - (int64_t)(i % 5), 10 + i);
    CHECK_OK(kbk_book_submit(b, &o));
  }
  kbk_level lv[8];
  size_t n = 99;
  CHECK_OK(kbk_book_top_levels(b, KBK_SIDE_BUY, lv, 3, &n));
  CHECK(n == 3 && lv[0].price == 1000 && lv[1].price == 999 && lv[0].orders == 2);
  CHECK_OK(kbk_book_top_levels(b, KBK_SIDE_BUY, lv, 8, &n));
  CHECK(n == 5);
  CHECK_OK(kbk_book_top_levels(b, KBK_SIDE_SELL, lv, 8, &n));
  CHECK(n == 0);
  CHECK_OK(kbk_book_top_levels(b, KBK_SIDE_BUY, NULL, 0, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_book_top_levels(b, KBK_SIDE_BUY, NULL, 3, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_top_levels(b, 9, lv, 3, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_book_top_levels(b, KBK_SIDE_BUY, lv, 3, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_top_levels(b, KBK_SIDE_BUY, lv, SIZE_MAX, &n),
               KBK_STATUS_INVALID_ARGUMENT);

  kbk_level d;
  CHECK_OK(kbk_book_depth_at(b, KBK_SIDE_BUY, 998, &d));
  CHECK(d.orders == 2 && d.qty == (12 + 17));
  CHECK_STATUS(kbk_book_depth_at(b, KBK_SIDE_BUY, 5, &d), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_book_depth_at(b, 3, 5, &d), KBK_STATUS_INVALID_ARGUMENT);

  kbk_order_info oi[16];
  CHECK_OK(kbk_book_orders(b, KBK_SIDE_BUY, oi, 16, &n));
  CHECK(n == 10 && oi[0].id == 100 && oi[1].id == 105 && oi[0].priority < oi[1].priority);
  CHECK_OK(kbk_book_orders(b, KBK_SIDE_BUY, oi, 4, &n));
  CHECK(n == 4);
  CHECK_STATUS(kbk_book_orders(b, 7, oi, 4, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_book_orders(b, KBK_SIDE_BUY, oi, 4, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_book_level_orders(b, KBK_SIDE_BUY, 997, oi, 16, &n));
  CHECK(n == 2 && oi[0].id == 103 && oi[1].id == 108);
  CHECK_OK(kbk_book_level_orders(b, KBK_SIDE_BUY, 5, oi, 16, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_book_level_orders(b, 2, 997, oi, 16, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_book_level_orders(b, 0, 997, NULL, 16, &n), KBK_STATUS_NULL_ARGUMENT);

  /* equal books hash equal */
  kbk_book *c = NULL;
  CHECK_OK(kbk_book_new(NULL, &c));
  for (uint64_t i = 0; i < 10; i++) {
    kbk_order o = limit(100 + i, KBK_SIDE_BUY, 1000 - (int64_t)(i % 5), 10 + i);
    CHECK_OK(kbk_book_submit(c, &o));
  }
  uint8_t h1[32], h2[32];
  CHECK_OK(kbk_book_state_hash(b, h1));
  CHECK_OK(kbk_book_state_hash(c, h2));
  CHECK(memcmp(h1, h2, 32) == 0);
  kbk_book_free(c);
  kbk_book_free(b);
}

static void test_batches(void) {
  kbk_book *b = NULL, *ref = NULL;
  CHECK_OK(kbk_book_new(NULL, &b));
  CHECK_OK(kbk_book_new(NULL, &ref));
  enum { N = 64 };
  kbk_command cmds[N];
  for (int i = 0; i < N; i++) {
    cmds[i] = cmd_new((uint64_t)i + 1, (uint8_t)(i % 2), 100 + (i % 2 == 0 ? -1 : 1) * (i % 3), 10);
  }
  cmds[10].kind = KBK_CMD_CANCEL;
  cmds[10].id = 1;
  cmds[20].kind = KBK_CMD_REDUCE;
  cmds[20].id = 3;
  cmds[20].qty = 5;
  cmds[30].kind = KBK_CMD_MODIFY;
  cmds[30].id = 5;
  cmds[30].price = 103;
  cmds[30].qty = 40;
  cmds[40].kind = KBK_CMD_ADVANCE_TIME;
  cmds[40].time = 7;
  cmds[50].kind = KBK_CMD_EXPIRE_DAY;
  cmds[60] = cmd_new(1000, KBK_SIDE_BUY, 200, 500); /* sweeps: many trades */
  cmds[60].tif = KBK_TIF_IOC;

  /* callback batch against one-by-one apply: same events, same hash */
  events a, r;
  memset(&a, 0, sizeof a);
  memset(&r, 0, sizeof r);
  CHECK_OK(kbk_book_set_event_callback(b, on_event, &a));
  CHECK_OK(kbk_book_set_event_callback(ref, on_event, &r));
  CHECK_OK(kbk_book_apply_batch(b, cmds, N));
  for (int i = 0; i < N; i++) {
    kbk_status s = kbk_book_apply(ref, &cmds[i]);
    CHECK(s == KBK_STATUS_OK || (s > 100 && s < 110));
  }
  CHECK(a.n == r.n && a.n > N);
  CHECK(memcmp(a.ev, r.ev, a.n * sizeof(kbk_event)) == 0);
  uint8_t h1[32], h2[32];
  CHECK_OK(kbk_book_state_hash(b, h1));
  CHECK_OK(kbk_book_state_hash(ref, h2));
  CHECK(memcmp(h1, h2, 32) == 0);

  /* an invalid command in a batch: a rejected event, nothing changed by
   * it, the others applied */
  kbk_command bad[3] = {cmd_new(5000, 0, 1, 1), cmd_new(5001, 0, 1, 1), cmd_new(5002, 0, 1, 1)};
  bad[1].kind = 9;
  bad[2].side = 3;
  events saved = a;
  a.n = 0;
  CHECK_OK(kbk_book_apply_batch(b, bad, 3));
  CHECK(a.n == 3 && a.ev[0].kind == KBK_EVENT_ACCEPTED && a.ev[0].id == 5000);
  CHECK(a.ev[1].kind == KBK_EVENT_REJECTED && a.ev[1].id == 5001 && a.ev[1].command == 9 &&
        a.ev[1].reason == KBK_REJECT_INVALID_ARGUMENT);
  CHECK(a.ev[2].kind == KBK_EVENT_REJECTED && a.ev[2].id == 5002 &&
        a.ev[2].command == KBK_CMD_NEW && a.ev[2].reason == KBK_REJECT_INVALID_ARGUMENT);
  kbk_order_info oi;
  CHECK_OK(kbk_book_order(b, 5000, &oi));
  CHECK_STATUS(kbk_book_order(b, 5001, &oi), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_book_order(b, 5002, &oi), KBK_STATUS_NOT_FOUND);
  CHECK_OK(kbk_book_cancel(b, 5000));
  CHECK_OK(kbk_book_state_hash(b, h2));
  CHECK(memcmp(h1, h2, 32) == 0);
  a.n = 0;
  kbk_event small_ev[4];
  size_t sa = 0, se = 0;
  CHECK_OK(kbk_book_apply_batch_events(b, &bad[1], 2, small_ev, 4, &sa, &se));
  CHECK(sa == 2 && se == 2 && small_ev[0].reason == KBK_REJECT_INVALID_ARGUMENT &&
        small_ev[1].kind == KBK_EVENT_REJECTED);
  CHECK_OK(kbk_book_state_hash(b, h2));
  CHECK(memcmp(h1, h2, 32) == 0);
  a = saved;
  CHECK_STATUS(kbk_book_apply_batch(b, NULL, 3), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_book_apply_batch(b, NULL, 0));
  CHECK_STATUS(kbk_book_apply(b, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_apply(b, &bad[2]), KBK_STATUS_INVALID_ARGUMENT);

  /* array batch with a small array: events carry over between calls */
  kbk_book *c = NULL;
  CHECK_OK(kbk_book_new(NULL, &c));
  kbk_event buf[7];
  events got;
  memset(&got, 0, sizeof got);
  size_t done = 0, pending = 1;
  int calls = 0;
  while ((done < N || pending > 0) && calls < 1000) {
    size_t applied = 0, nev = 0;
    CHECK_OK(kbk_book_apply_batch_events(c, cmds + done, N - done, buf, 7, &applied, &nev));
    for (size_t i = 0; i < nev && got.n < MAX_EVENTS; i++) got.ev[got.n++] = buf[i];
    done += applied;
    CHECK_OK(kbk_book_pending_events(c, &pending));
    calls++;
  }
  CHECK(done == N && got.n == a.n);
  CHECK(memcmp(got.ev, a.ev, a.n * sizeof(kbk_event)) == 0);
  size_t ap = 1, ne = 1;
  CHECK_OK(kbk_book_apply_batch_events(c, NULL, 0, NULL, 0, &ap, &ne));
  CHECK(ap == 0 && ne == 0);
  CHECK_STATUS(kbk_book_apply_batch_events(c, cmds, N, buf, 7, NULL, &ne), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_apply_batch_events(c, cmds, N, buf, 7, &ap, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_apply_batch_events(c, cmds, N, NULL, 7, &ap, &ne), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_book_pending_events(c, NULL), KBK_STATUS_NULL_ARGUMENT);
  /* misaligned array */
  CHECK_STATUS(kbk_book_apply_batch(c, (const kbk_command *)((const char *)cmds + 1), 2),
               KBK_STATUS_INVALID_ARGUMENT);
  kbk_book_free(c);
  kbk_book_free(b);
  kbk_book_free(ref);
}

typedef struct {
  uint32_t instrument[64];
  kbk_event ev[64];
  size_t n;
} mevents;

static void on_market(void *ud, uint32_t instrument, const kbk_event *e) {
  mevents *m = (mevents *)ud;
  if (m->n < 64) {
    m->instrument[m->n] = instrument;
    m->ev[m->n++] = *e;
  }
}

static void test_market(void) {
  kbk_market *m = NULL;
  CHECK_STATUS(kbk_market_new(NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_market_new(&m));
  mevents me;
  memset(&me, 0, sizeof me);
  CHECK_OK(kbk_market_set_event_callback(m, on_market, &me));
  CHECK_OK(kbk_market_add_instrument(m, 7203, NULL));
  kbk_book_config cfg;
  CHECK_OK(kbk_book_config_default(&cfg));
  CHECK_OK(kbk_market_add_instrument(m, 6758, &cfg));
  CHECK_STATUS(kbk_market_add_instrument(m, 7203, NULL), KBK_STATUS_MARKET_DUPLICATE_INSTRUMENT);
  cfg.lot_size = 0;
  CHECK_STATUS(kbk_market_add_instrument(m, 1, &cfg), KBK_STATUS_BOOK_INVALID_CONFIG);
  kbk_command c = cmd_new(1, KBK_SIDE_BUY, 2150, 100);
  CHECK_OK(kbk_market_apply(m, 7203, &c));
  CHECK(me.n == 1 && me.instrument[0] == 7203 && me.ev[0].kind == KBK_EVENT_ACCEPTED);
  CHECK_STATUS(kbk_market_apply(m, 1, &c), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_market_apply(m, 7203, &c), KBK_STATUS_BOOK_DUPLICATE_ID);
  CHECK_STATUS(kbk_market_apply(m, 7203, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_level l;
  CHECK_OK(kbk_market_best(m, 7203, KBK_SIDE_BUY, &l));
  CHECK(l.price == 2150 && l.qty == 100);
  CHECK_STATUS(kbk_market_best(m, 6758, KBK_SIDE_BUY, &l), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_market_best(m, 99, KBK_SIDE_BUY, &l), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_market_best(m, 7203, 2, &l), KBK_STATUS_INVALID_ARGUMENT);
  uint32_t ids[4];
  size_t n = 0, total = 0;
  CHECK_OK(kbk_market_instruments(m, ids, 4, &n, &total));
  CHECK(n == 2 && total == 2 && ids[0] == 6758 && ids[1] == 7203);
  CHECK_OK(kbk_market_instruments(m, ids, 1, &n, &total));
  CHECK(n == 1 && total == 2);
  CHECK_STATUS(kbk_market_instruments(m, ids, 4, NULL, &total), KBK_STATUS_NULL_ARGUMENT);
  uint8_t h[32];
  CHECK_OK(kbk_market_state_hash(m, h));
  CHECK_STATUS(kbk_market_state_hash(m, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_market_remove_instrument(m, 6758));
  CHECK_STATUS(kbk_market_remove_instrument(m, 6758), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_market_remove_instrument(NULL, 6758), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_market_add_instrument((kbk_market *)&me, 1, NULL), KBK_STATUS_INVALID_HANDLE);
  CHECK_OK(kbk_market_set_event_callback(m, NULL, NULL));
  kbk_market_free(m);
  kbk_market_free(NULL);
}

int main(void) {
  test_config();
  test_orders_and_events();
  test_queries();
  test_batches();
  test_market();
  return check_done("test_book");
}
