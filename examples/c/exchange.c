/* A small exchange session embedding libkabuken: two instruments, a few
 * parties' orders, trades printed as they happen, the resulting books.
 * (certificates.c is the certificate exchange: CA, register, signed
 * orders, transfers and settlement.) */
#include <stdio.h>
#include <string.h>
#include "kabuken.h"

static const char *party(uint64_t order_id) {
  /* order ids carry the party: 1xx alice, 2xx carol, 3xx bob */
  static const char *names[] = {"?", "alice", "carol", "bob"};
  return names[(order_id / 100) % 4];
}

static void on_event(void *userdata, uint32_t instrument, const kbk_event *e) {
  unsigned *trades = (unsigned *)userdata;
  if (e->kind == KBK_EVENT_TRADE) {
    (*trades)++;
    printf("TRADE %u: %s buys from %s: %llu @ %lld (maker %llu left %llu)\n", instrument,
           e->side == KBK_SIDE_BUY ? party(e->other_id) : party(e->id),
           e->side == KBK_SIDE_BUY ? party(e->id) : party(e->other_id),
           (unsigned long long)e->qty, (long long)e->price, (unsigned long long)e->id,
           (unsigned long long)e->remaining);
  } else if (e->kind == KBK_EVENT_REJECTED) {
    printf("REJECT %u: order %llu (%s)\n", instrument, (unsigned long long)e->id,
           kbk_status_message(100u + e->reason));
  }
}

static int check(kbk_status s, const char *what) {
  if (s == KBK_STATUS_OK) return 0;
  char msg[256];
  size_t n = 0;
  if (kbk_last_error(msg, sizeof msg, &n) != KBK_STATUS_OK) msg[0] = 0;
  fprintf(stderr, "%s: %s (%s)\n", what, kbk_status_message(s), msg);
  return 1;
}

static kbk_command order(uint64_t id, uint8_t side, int64_t price, uint64_t qty) {
  kbk_command c;
  memset(&c, 0, sizeof c);
  c.kind = KBK_CMD_NEW;
  c.id = id;
  c.side = side;
  c.price = price;
  c.qty = qty;
  c.order_type = KBK_ORDER_LIMIT;
  c.tif = KBK_TIF_GTC;
  return c;
}

int main(void) {
  printf("libkabuken %s\n", kbk_version());
  kbk_market *m = NULL;
  unsigned trades = 0;
  if (check(kbk_market_new(&m), "kbk_market_new")) return 1;
  int rc = 0;
  rc |= check(kbk_market_set_event_callback(m, on_event, &trades), "callback");
  kbk_book_config cfg;
  rc |= check(kbk_book_config_default(&cfg), "config");
  cfg.lot_size = 100; /* round lots */
  rc |= check(kbk_market_add_instrument(m, 7203, &cfg), "list 7203");
  rc |= check(kbk_market_add_instrument(m, 6758, &cfg), "list 6758");

  /* alice and carol sell Toyota (7203), bob buys */
  kbk_command flow[] = {
      order(100, KBK_SIDE_SELL, 2150, 1000), order(200, KBK_SIDE_SELL, 2151, 500),
      order(300, KBK_SIDE_BUY, 2149, 300),   order(301, KBK_SIDE_BUY, 2151, 1200),
      order(302, KBK_SIDE_BUY, 2150, 250), /* not a round lot: rejected */
  };
  for (size_t i = 0; i < sizeof flow / sizeof flow[0]; i++) {
    kbk_status s = kbk_market_apply(m, 7203, &flow[i]);
    if (s != KBK_STATUS_OK && s != KBK_STATUS_BOOK_LOT_SIZE) rc |= check(s, "apply");
  }
  kbk_command sony[] = {order(102, KBK_SIDE_BUY, 13000, 200), order(202, KBK_SIDE_SELL, 12990, 200)};
  for (size_t i = 0; i < 2; i++) rc |= check(kbk_market_apply(m, 6758, &sony[i]), "apply");

  uint32_t ids[8];
  size_t n = 0, total = 0;
  rc |= check(kbk_market_instruments(m, ids, 8, &n, &total), "instruments");
  for (size_t i = 0; i < n; i++) {
    kbk_level bid, ask;
    kbk_status sb = kbk_market_best(m, ids[i], KBK_SIDE_BUY, &bid);
    kbk_status sa = kbk_market_best(m, ids[i], KBK_SIDE_SELL, &ask);
    printf("BOOK %u: bid %s", ids[i], sb == KBK_STATUS_OK ? "" : "none");
    if (sb == KBK_STATUS_OK) printf("%llu @ %lld", (unsigned long long)bid.qty, (long long)bid.price);
    printf(", ask %s", sa == KBK_STATUS_OK ? "" : "none");
    if (sa == KBK_STATUS_OK) printf("%llu @ %lld", (unsigned long long)ask.qty, (long long)ask.price);
    printf("\n");
  }
  uint8_t h[32];
  rc |= check(kbk_market_state_hash(m, h), "hash");
  printf("trades %u, state hash %02x%02x%02x%02x...\n", trades, h[0], h[1], h[2], h[3]);
  kbk_market_free(m);
  return rc;
}
