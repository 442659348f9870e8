/* Out-of-band verification at the exchange's order reception through the
 * C ABI: a bound investor's small order goes straight to the book, large
 * ones are held until the holder confirms (then booked), cancels (voided,
 * cash released) or lets the request expire; and bad input. */
#include "fixture.h"

#define SEC 1000000000ull

typedef struct {
  int deliveries, alarms;
  uint64_t ref;
  char code[32], cancel[32];
  uint8_t digest[32];
} host;

static int32_t on_deliver(void *ud, const kbk_oob_device *d, const kbk_oob_notice *n) {
  host *h = (host *)ud;
  (void)d;
  if (n->kind == KBK_OOB_NOTICE_CONFIRMATION) {
    const kbk_oob_confirmation *c = n->confirmation;
    h->deliveries++;
    h->ref = c->request_ref;
    strncpy(h->code, c->code, sizeof h->code - 1);
    strncpy(h->cancel, c->cancel_code, sizeof h->cancel - 1);
    memcpy(h->digest, c->tx_digest, 32);
  }
  return 0;
}
static void on_alarm(void *ud, const kbk_oob_duress *r) {
  (void)r;
  ((host *)ud)->alarms++;
}

static kbk_oob_response answer(kbk_oob *o, host *h, const char *code, uint64_t now) {
  kbk_oob_answer_params a;
  kbk_oob_response r;
  memset(&a, 0, sizeof a);
  memset(&r, 0, sizeof r);
  a.user_code = "ben";
  a.request_ref = h->ref;
  a.code = code;
  a.second_code = "4711";
  memcpy(a.tx_digest, h->digest, 32);
  a.proof = KBK_OOB_PROOF_NONE;
  CHECK_OK(kbk_oob_answer(o, &a, now, &r));
  return r;
}

static uint64_t buy(world *w, int64_t price, uint64_t qty) {
  uint32_t refusal = 999;
  kbk_message *a = order(w, 1, KBK_SIDE_BUY, price, qty, NULL, 0, &refusal);
  CHECK(refusal == 0);
  uint64_t r = field_u64(a, KBK_FIELD_RECEPTION_NUMBER);
  kbk_message_free(a);
  return r;
}

static size_t held(world *w, uint64_t *first) {
  uint64_t list[8];
  size_t n = 0;
  CHECK_OK(kbk_exchange_held_orders(w->ex, list, 8, &n));
  if (n && first) *first = list[0];
  return n;
}

static uint64_t bid_qty(world *w) {
  kbk_market_data md;
  CHECK_OK(kbk_exchange_market_data(w->ex, INST, &md));
  return md.has_bid ? md.bid_qty : 0;
}

int main(void) {
  world w;
  host h;
  memset(&h, 0, sizeof h);
  world_new(&w);
  w.now = 1000 * SEC;

  uint8_t pepper[32];
  memset(pepper, 7, sizeof pepper);
  kbk_oob_config cfg;
  CHECK_OK(kbk_oob_config_default(pepper, &cfg));
  cfg.argon2_m_cost_kib = 8; /* tests only: cheap argon2id */
  cfg.argon2_t_cost = 1;
  cfg.argon2_p_cost = 1;
  kbk_oob_hooks hk;
  memset(&hk, 0, sizeof hk);
  hk.userdata = &h;
  hk.deliver = on_deliver;
  hk.alarm = on_alarm;

  /* not enabled yet: binding is refused; bad arguments */
  kbk_oob_session sess;
  memset(&sess, 0, sizeof sess);
  CHECK_STATUS(kbk_exchange_oob_bind(w.ex, INV0 + 1, &sess), KBK_STATUS_NOT_FOUND);
  kbk_oob *o = NULL;
  kbk_oob_hooks nohooks;
  memset(&nohooks, 0, sizeof nohooks);
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, &cfg, &nohooks, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, NULL, &hk, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, &cfg, NULL, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, &cfg, &hk, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_oob_config badcfg = cfg;
  badcfg.code_digits = 3;
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, &badcfg, &hk, &o), KBK_STATUS_OOB_INVALID_CONFIG);
  CHECK(o == NULL);
  CHECK_OK(kbk_exchange_enable_oob(w.ex, &cfg, &hk, &o));
  kbk_oob *o2 = NULL;
  CHECK_STATUS(kbk_exchange_enable_oob(w.ex, &cfg, &hk, &o2), KBK_STATUS_INVALID_ARGUMENT);

  /* Ben: confirmation from 500000 (price in ticks x shares) */
  kbk_oob_device dev;
  memset(&dev, 0, sizeof dev);
  dev.address = "+81-90-1111-2222";
  dev.kind = KBK_OOB_DEVICE_SMS;
  kbk_oob_second_code sc[2] = {{"4711", KBK_OOB_PURPOSE_NORMAL, 0},
                               {"1147", KBK_OOB_PURPOSE_DURESS, 0}};
  kbk_oob_method_row row = {0, KBK_OOB_METHOD_CODE, 0};
  kbk_oob_contractor_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.user_code = "ben";
  spec.pin = "2468";
  spec.devices = &dev;
  spec.devices_len = 1;
  spec.second_codes = sc;
  spec.second_codes_len = 2;
  spec.methods = &row;
  spec.methods_len = 1;
  spec.threshold = 500000;
  spec.max_amount = 100000000;
  spec.delivery = KBK_OOB_DELIVERY_BROADCAST;
  uint32_t cid = 0;
  CHECK_OK(kbk_oob_register_contractor(o, &spec, w.now, &cid));
  CHECK_OK(kbk_oob_login(o, "ben", "2468", w.now, &sess));
  CHECK_STATUS(kbk_exchange_oob_bind(w.ex, INV0 + 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_exchange_oob_bind(w.ex, INV0 + 1, &sess));

  /* a small order: straight to the book */
  buy(&w, 10000, 10);
  CHECK(held(&w, NULL) == 0 && h.deliveries == 0);
  CHECK(bid_qty(&w) == 10);

  /* a large one: held, a code goes to the device; confirmed -> booked */
  uint64_t big = buy(&w, 10000, 100);
  uint64_t first = 0;
  CHECK(held(&w, &first) == 1 && first == big);
  CHECK(h.deliveries == 1 && strlen(h.code) == 8);
  CHECK(bid_qty(&w) == 10);
  kbk_order_status os;
  CHECK_OK(kbk_exchange_order(w.ex, big, &os));
  CHECK(os.state == KBK_ORDER_STATE_OPEN && os.held == 1 && os.quantity == 100);
  kbk_oob_response r = answer(o, &h, h.code, w.now + SEC);
  CHECK(r.kind == KBK_OOB_RESPONSE_ACCEPTED);
  CHECK_OK(kbk_exchange_poll_held(w.ex, w.reg, w.ledger, w.now + SEC));
  CHECK(held(&w, NULL) == 0);
  CHECK(bid_qty(&w) == 110);
  CHECK_OK(kbk_exchange_order(w.ex, big, &os));
  CHECK(os.held == 0 && os.open == 100);

  /* another: the holder cancels -> voided, its cash released */
  char before[KBK_DECIMAL_LEN], after[KBK_DECIMAL_LEN];
  size_t n = 0;
  CHECK_OK(kbk_ledger_balance(w.ledger, INV0 + 1, KBK_BALANCE_RESERVED, before, sizeof before, &n));
  uint64_t second = buy(&w, 9900, 100);
  CHECK(held(&w, NULL) == 1 && h.deliveries == 2);
  r = answer(o, &h, h.cancel, w.now + 2 * SEC);
  CHECK(r.kind == KBK_OOB_RESPONSE_CANCELLED);
  CHECK_OK(kbk_exchange_poll_held(w.ex, w.reg, w.ledger, w.now + 2 * SEC));
  CHECK_OK(kbk_exchange_order(w.ex, second, &os));
  CHECK(os.state == KBK_ORDER_STATE_CANCELLED);
  CHECK_OK(kbk_ledger_balance(w.ledger, INV0 + 1, KBK_BALANCE_RESERVED, after, sizeof after, &n));
  CHECK(strcmp(before, after) == 0);
  CHECK(held(&w, NULL) == 0);

  /* another: unanswered past its lifetime -> expired on advance_time */
  uint64_t third = buy(&w, 9800, 100);
  CHECK(held(&w, NULL) == 1);
  w.now += 3600 * SEC;
  CHECK_OK(kbk_exchange_advance_time(w.ex, w.reg, w.ledger, w.now));
  CHECK_OK(kbk_exchange_order(w.ex, third, &os));
  CHECK(os.state == KBK_ORDER_STATE_EXPIRED);
  CHECK(held(&w, NULL) == 0);
  CHECK(h.alarms == 0);

  /* bad arguments */
  CHECK_STATUS(kbk_exchange_poll_held(w.ex, NULL, w.ledger, w.now), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_held_orders(w.ex, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_held_orders(w.ex, NULL, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_exchange_held_orders(w.ex, NULL, 0, &n));
  CHECK(n == 0);

  /* the service handle may go first; the exchange keeps its own */
  kbk_oob_free(o);
  buy(&w, 10000, 10);
  CHECK_OK(kbk_exchange_check_invariants(w.ex, w.reg, w.ledger));
  world_free(&w);
  return check_done("test_exchange_oob");
}
