/* The exchange and the ledger through the C ABI: signed orders, receipts
 * and error notices with their refusal codes, matching with a partial fill
 * of a certificate, completion notices, the buyer's claim, cancel, reduce,
 * modify, GTD and day expiry, released certificates, the queries, the
 * invariants, account inquiry, and bad input to each. */
#include <stdlib.h>
#include "fixture.h"

static const char bad_utf8[] = {(char)0xff, 0};

typedef struct {
  int errors, completions, released, released_certs;
  uint64_t buyer_transfer;
  kbk_message *last_cert;
} drained;

/* Takes everything out of the outbox. */
static void drain(world *w, drained *d) {
  for (;;) {
    kbk_outgoing o;
    kbk_message *m = NULL;
    kbk_status s = kbk_exchange_next_outgoing(w->ex, &o, &m);
    if (s == KBK_STATUS_NOT_FOUND) break;
    CHECK_OK(s);
    if (s != KBK_STATUS_OK) break;
    if (m) CHECK(walk(m) > 0);
    uint8_t kind = 0;
    switch (o.kind) {
      case KBK_OUT_ERROR:
        CHECK_OK(kbk_message_kind(m, &kind));
        CHECK(kind == KBK_KIND_ERROR_NOTICE);
        d->errors++;
        break;
      case KBK_OUT_COMPLETION:
        CHECK_OK(kbk_message_kind(m, &kind));
        CHECK(kind == KBK_KIND_COMPLETION_NOTICE);
        CHECK(field_u64(m, KBK_FIELD_USER_ID) == o.user);
        if (field_u64(m, KBK_FIELD_SIDE) == KBK_SIDE_BUY)
          d->buyer_transfer = field_u64(m, KBK_FIELD_TRANSFER_NUMBER);
        d->completions++;
        break;
      case KBK_OUT_RELEASED:
        CHECK(m == NULL);
        d->released++;
        break;
      case KBK_OUT_RELEASED_CERTIFICATE:
        CHECK_OK(kbk_message_kind(m, &kind));
        CHECK(kind == KBK_KIND_CERTIFICATE);
        CHECK(field_u64(m, KBK_FIELD_HOLDER) == o.user);
        d->released_certs++;
        kbk_message_free(d->last_cert);
        d->last_cert = m;
        m = NULL;
        break;
      default:
        CHECK(0);
    }
    kbk_message_free(m);
  }
}

/* Sends an amendment (cancel/reduce/modify message) and returns the
 * refusal code. */
static uint32_t amend(world *w, kbk_message *req) {
  size_t n = 0;
  uint8_t *b = wire(req, &n);
  kbk_message *answer = NULL;
  uint32_t refusal = 999;
  CHECK_OK(kbk_exchange_submit(w->ex, w->reg, w->ledger, b, n, w->now, &answer, &refusal));
  uint8_t kind = 0;
  CHECK_OK(kbk_message_kind(answer, &kind));
  CHECK(kind == (refusal ? KBK_KIND_ERROR_NOTICE : KBK_KIND_RECEPTION_RECEIPT));
  CHECK(walk(answer) == 4);
  CHECK(walk(req) > 0);
  free(b);
  kbk_message_free(answer);
  kbk_message_free(req);
  return refusal;
}

static void balance(world *w, uint64_t account, uint32_t which, char *buf) {
  size_t n = 0;
  CHECK_OK(kbk_ledger_balance(w->ledger, account, which, buf, KBK_DECIMAL_LEN, &n));
}

int main(void) {
  world w;
  uint32_t refusal = 999;
  uint8_t kind = 0, expk[32], d1[32], d2[32];
  size_t n = 0;
  char text[KBK_DECIMAL_LEN];
  drained out;
  memset(&out, 0, sizeof out);
  world_new(&w);
  CHECK_OK(kbk_exchange_public_key(w.ex, expk));

  /* investor 0 sells 300 of a 1000-share certificate */
  kbk_message *cert = issue(&w, 0, 1000);
  const kbk_message *certs[1] = {cert};
  kbk_message *rcpt = order(&w, 0, KBK_SIDE_SELL, 10000, 300, certs, 1, &refusal);
  CHECK(refusal == 0);
  CHECK_OK(kbk_message_kind(rcpt, &kind));
  CHECK(kind == KBK_KIND_RECEPTION_RECEIPT);
  CHECK_OK(kbk_message_verify(rcpt, expk));
  uint64_t sell = field_u64(rcpt, KBK_FIELD_RECEPTION_NUMBER);
  CHECK(field_u64(rcpt, KBK_FIELD_REQUEST_KIND) == 0);
  kbk_message_free(rcpt);

  kbk_market_data md;
  CHECK_OK(kbk_exchange_market_data(w.ex, INST, &md));
  CHECK(md.has_ask == 1 && md.ask_price == 10000 && md.ask_qty == 300 && md.has_bid == 0);
  CHECK_STATUS(kbk_exchange_market_data(w.ex, 99, &md), KBK_STATUS_NOT_FOUND);
  kbk_level lv[4];
  CHECK_OK(kbk_exchange_depth(w.ex, INST, KBK_SIDE_SELL, lv, 4, &n));
  CHECK(n == 1 && lv[0].price == 10000 && lv[0].qty == 300 && lv[0].orders == 1);
  CHECK_OK(kbk_exchange_depth(w.ex, INST, KBK_SIDE_BUY, lv, 4, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_exchange_depth(w.ex, INST, 2, lv, 4, &n), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_exchange_depth(w.ex, INST, 0, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);

  /* the same certificate in a second sell order: already reserved */
  kbk_message *err = order(&w, 0, KBK_SIDE_SELL, 10500, 100, certs, 1, &refusal);
  CHECK(refusal != 0);
  CHECK_OK(kbk_message_kind(err, &kind));
  CHECK(kind == KBK_KIND_ERROR_NOTICE);
  CHECK(field_u64(err, KBK_FIELD_REASON) == refusal);
  CHECK(strcmp(kbk_refusal_name(refusal), "unknown") != 0);
  kbk_message_free(err);

  /* investor 1 buys 100: a trade, the certificate split */
  rcpt = order(&w, 1, KBK_SIDE_BUY, 10000, 100, NULL, 0, &refusal);
  CHECK(refusal == 0);
  uint64_t buy = field_u64(rcpt, KBK_FIELD_RECEPTION_NUMBER);
  kbk_message_free(rcpt);
  CHECK_OK(kbk_exchange_match_count(w.ex, &n));
  CHECK(n == 1);
  kbk_match mt;
  CHECK_OK(kbk_exchange_match(w.ex, 0, &mt));
  CHECK(mt.quantity == 100 && mt.price == 10000 && mt.buyer == INV0 + 1 && mt.seller == INV0);
  CHECK(mt.buy_order == buy && mt.sell_order == sell && mt.has_change == 1);
  CHECK(strtod(mt.amount, NULL) == 10000.0);
  CHECK_STATUS(kbk_exchange_match(w.ex, 1, &mt), KBK_STATUS_NOT_FOUND);
  kbk_match trades[4];
  CHECK_OK(kbk_exchange_trades_of(w.ex, INV0 + 1, trades, 4, &n));
  CHECK(n == 1 && trades[0].transfer_number == mt.transfer_number);
  CHECK_OK(kbk_exchange_trades_of(w.ex, INV0 + 2, trades, 4, &n));
  CHECK(n == 0);
  CHECK_OK(kbk_exchange_trades_of(w.ex, INV0, NULL, 0, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_exchange_trades_of(w.ex, INV0, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_exchange_market_data(w.ex, INST, &md));
  CHECK(md.has_last == 1 && md.last_price == 10000 && md.volume == 100 && md.ask_qty == 200);

  /* completion notices; the buyer claims its certificate */
  drain(&w, &out);
  CHECK(out.completions == 2 && out.buyer_transfer == mt.transfer_number);
  kbk_message *req = NULL, *bought = NULL;
  CHECK_OK(kbk_sign_certificate_request(w.inv[1], INV0 + 1, out.buyer_transfer, "div",
                                        ++w.seq[1], &req));
  size_t rl = 0;
  uint8_t *rb = wire(req, &rl);
  CHECK_OK(kbk_register_claim_certificate(w.reg, rb, rl, w.now, &bought));
  free(rb);
  kbk_message_free(req);
  CHECK(field_u64(bought, KBK_FIELD_QUANTITY) == 100);
  CHECK(field_u64(bought, KBK_FIELD_HOLDER) == INV0 + 1);
  kbk_cert_id bid;
  CHECK_OK(kbk_message_get_cert_id(bought, KBK_FIELD_CERT_ID, 0, &bid));
  CHECK(bid.serial == mt.new_cert_id.serial);

  /* holdings as the exchange's ID table shows them */
  kbk_holding hs[8];
  CHECK_OK(kbk_exchange_holdings_of(w.ex, INV0 + 1, hs, 8, &n));
  CHECK(n == 1 && hs[0].shares == 100 && hs[0].is_reserved == 0 && hs[0].instrument == INST);
  CHECK_OK(kbk_exchange_holdings_of(w.ex, INV0, hs, 8, &n));
  CHECK(n == 1 && hs[0].shares == 900 && hs[0].is_reserved == 1 && hs[0].reserved_to == sell);

  /* order status */
  kbk_order_status os;
  CHECK_OK(kbk_exchange_order(w.ex, sell, &os));
  CHECK(os.open == 200 && os.filled == 100 && os.state == KBK_ORDER_STATE_OPEN);
  CHECK(os.side == KBK_SIDE_SELL && os.has_price == 1 && os.price == 10000 && os.user == INV0);
  CHECK(os.certificates == 1 && os.held == 0);
  CHECK_OK(kbk_exchange_order(w.ex, buy, &os));
  CHECK(os.state == KBK_ORDER_STATE_FILLED && os.filled == 100);
  CHECK_STATUS(kbk_exchange_order(w.ex, 12345, &os), KBK_STATUS_NOT_FOUND);
  uint64_t open[4];
  CHECK_OK(kbk_exchange_open_orders_of(w.ex, INV0, open, 4, &n));
  CHECK(n == 1 && open[0] == sell);
  CHECK_OK(kbk_exchange_open_orders_of(w.ex, INV0 + 1, open, 4, &n));
  CHECK(n == 0);
  CHECK_OK(kbk_exchange_open_orders_of(w.ex, INV0, NULL, 0, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_exchange_open_orders_of(w.ex, INV0, NULL, 4, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_open_orders_of(w.ex, INV0, open, 4, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* the ledger moved the cash: buyer paid 10000.00 */
  balance(&w, INV0 + 1, KBK_BALANCE_AVAILABLE, text);
  CHECK(strtod(text, NULL) == 990000.0);
  balance(&w, INV0, KBK_BALANCE_AVAILABLE, text);
  CHECK(strtod(text, NULL) == 1010000.0);
  balance(&w, INV0 + 1, KBK_BALANCE_RESERVED, text);
  CHECK(strtod(text, NULL) == 0.0);

  /* modify, reduce, cancel the rest of the sell order */
  CHECK_OK(kbk_sign_modify(w.inv[0], INV0, sell, 10100, 200, ++w.seq[0], &req));
  CHECK(amend(&w, req) == 0);
  CHECK_OK(kbk_exchange_order(w.ex, sell, &os));
  CHECK(os.price == 10100 && os.open == 200);
  CHECK_OK(kbk_sign_reduce(w.inv[0], INV0, sell, 100, ++w.seq[0], &req));
  CHECK(amend(&w, req) == 0);
  CHECK_OK(kbk_exchange_order(w.ex, sell, &os));
  CHECK(os.open == 100);
  /* someone else cannot cancel it */
  CHECK_OK(kbk_sign_cancel(w.inv[2], INV0 + 2, sell, ++w.seq[2], &req));
  CHECK(amend(&w, req) != 0);
  CHECK_OK(kbk_sign_cancel(w.inv[0], INV0, sell, ++w.seq[0], &req));
  CHECK(amend(&w, req) == 0);
  CHECK_OK(kbk_exchange_order(w.ex, sell, &os));
  CHECK(os.state == KBK_ORDER_STATE_CANCELLED);
  /* cancelling again, or an unknown order */
  CHECK_OK(kbk_sign_cancel(w.inv[0], INV0, sell, ++w.seq[0], &req));
  CHECK(amend(&w, req) != 0);
  CHECK_OK(kbk_sign_cancel(w.inv[0], INV0, 999, ++w.seq[0], &req));
  CHECK(amend(&w, req) == 34); /* unknown_order */
  /* the unsold change certificate comes back */
  out.released = out.released_certs = 0;
  drain(&w, &out);
  CHECK(out.released == 1 && out.released_certs == 1);
  CHECK(out.last_cert != NULL && field_u64(out.last_cert, KBK_FIELD_QUANTITY) == 900);

  /* a GTD buy expires when time passes; a day order at the day's end */
  kbk_message *a = order_tif(&w, 2, KBK_SIDE_BUY, 9900, 50, KBK_TIF_GTD, 100, NULL, 0, &refusal);
  CHECK(refusal == 0);
  uint64_t gtd = field_u64(a, KBK_FIELD_RECEPTION_NUMBER);
  kbk_message_free(a);
  a = order_tif(&w, 2, KBK_SIDE_BUY, 9800, 50, KBK_TIF_DAY, 0, NULL, 0, &refusal);
  CHECK(refusal == 0);
  uint64_t day = field_u64(a, KBK_FIELD_RECEPTION_NUMBER);
  kbk_message_free(a);
  balance(&w, INV0 + 2, KBK_BALANCE_RESERVED, text);
  CHECK(strtod(text, NULL) > 0.0);
  CHECK_OK(kbk_ledger_reserved_for(w.ledger, gtd, text, sizeof text, &n));
  CHECK(strtod(text, NULL) == 9900.0 * 50 / 100);
  CHECK_STATUS(kbk_ledger_reserved_for(w.ledger, sell, text, sizeof text, &n),
               KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_ledger_reserved_for(w.ledger, gtd, text, 1, &n), KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_ledger_reserved_for(w.ledger, gtd, NULL, 8, &n), KBK_STATUS_NULL_ARGUMENT);
  w.now = 200;
  CHECK_OK(kbk_exchange_advance_time(w.ex, w.reg, w.ledger, w.now));
  CHECK_OK(kbk_exchange_order(w.ex, gtd, &os));
  CHECK(os.state == KBK_ORDER_STATE_EXPIRED);
  CHECK_OK(kbk_exchange_order(w.ex, day, &os));
  CHECK(os.state == KBK_ORDER_STATE_OPEN);
  CHECK_OK(kbk_exchange_expire_day(w.ex, w.reg, w.ledger, w.now));
  CHECK_OK(kbk_exchange_order(w.ex, day, &os));
  CHECK(os.state == KBK_ORDER_STATE_EXPIRED);
  balance(&w, INV0 + 2, KBK_BALANCE_RESERVED, text);
  CHECK(strtod(text, NULL) == 0.0);
  drain(&w, &out);

  /* refusals with their codes */
  kbk_order_request o;
  memset(&o, 0, sizeof o);
  o.user_id = INV0 + 2;
  o.instrument = 99;
  o.side = KBK_SIDE_BUY;
  o.has_price = 1;
  o.price = 10000;
  o.quantity = 10;
  o.name_address = "C";
  o.account = INV0 + 2;
  o.seq = ++w.seq[2];
  kbk_message *ord = NULL, *ans = NULL;
  CHECK_OK(kbk_sign_order(w.inv[2], &o, NULL, 0, &ord));
  size_t ol = 0;
  uint8_t *ob = wire(ord, &ol);
  CHECK_OK(kbk_message_digest(ord, d1));
  CHECK_OK(kbk_exchange_submit(w.ex, w.reg, w.ledger, ob, ol, w.now, &ans, &refusal));
  CHECK(refusal == 8 && strcmp(kbk_refusal_name(refusal), "unknown_instrument") == 0);
  CHECK_OK(kbk_message_get_bytes(ans, KBK_FIELD_REQUEST_HASH, 0, d2, sizeof d2, &n));
  CHECK(memcmp(d1, d2, 32) == 0);
  kbk_message_free(ans);
  /* a refused request changes nothing: the same bytes are refused alike */
  CHECK_OK(kbk_exchange_submit(w.ex, w.reg, w.ledger, ob, ol, w.now, &ans, &refusal));
  CHECK(refusal == 8);
  kbk_message_free(ans);
  /* an accepted order's bytes again: a replay */
  kbk_message *good = NULL;
  o.instrument = INST;
  o.price = 9000;
  o.seq = ++w.seq[2];
  CHECK_OK(kbk_sign_order(w.inv[2], &o, NULL, 0, &good));
  size_t gl = 0;
  uint8_t *gb = wire(good, &gl);
  CHECK_OK(kbk_exchange_submit(w.ex, w.reg, w.ledger, gb, gl, w.now, &ans, &refusal));
  CHECK(refusal == 0);
  kbk_message_free(ans);
  CHECK_OK(kbk_exchange_submit(w.ex, w.reg, w.ledger, gb, gl, w.now, &ans, &refusal));
  CHECK(refusal == 7 && strcmp(kbk_refusal_name(refusal), "replay") == 0);
  kbk_message_free(ans);
  free(gb);
  kbk_message_free(good);
  /* bad input: nothing is answered */
  ans = NULL;
  refusal = 999;
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, ob, ol - 1, w.now, &ans, &refusal),
               KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, NULL, ol, w.now, &ans, &refusal),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, ob, ol, w.now, NULL, &refusal),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, ob, ol, w.now, &ans, NULL),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_submit(w.ex, NULL, w.ledger, ob, ol, w.now, &ans, &refusal),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, NULL, ob, ol, w.now, &ans, &refusal),
               KBK_STATUS_NULL_ARGUMENT);
  /* register and ledger swapped: handles of the wrong type */
  CHECK_STATUS(kbk_exchange_submit(w.ex, (kbk_register *)w.ledger, (kbk_ledger *)w.reg, ob, ol,
                                   w.now, &ans, &refusal),
               KBK_STATUS_INVALID_HANDLE);
  /* a certificate is not a request the exchange takes */
  size_t cl = 0;
  uint8_t *cb = wire(cert, &cl);
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, cb, cl, w.now, &ans, &refusal),
               KBK_STATUS_WIRE_WRONG_KIND);
  cb[1] = 0;
  CHECK_STATUS(kbk_exchange_submit(w.ex, w.reg, w.ledger, cb, cl, w.now, &ans, &refusal),
               KBK_STATUS_WIRE_MALFORMED);
  free(cb);
  CHECK(ans == NULL && refusal == 999);
  free(ob);
  kbk_message_free(ord);
  /* a price outside the band; a sell with a spent certificate */
  a = order(&w, 1, KBK_SIDE_BUY, 20000, 10, NULL, 0, &refusal);
  CHECK(refusal == 24);
  kbk_message_free(a);
  a = order(&w, 0, KBK_SIDE_SELL, 10000, 100, certs, 1, &refusal);
  CHECK(refusal != 0);
  kbk_message_free(a);
  /* the buyer's certificate sells fine */
  const kbk_message *mine[1] = {bought};
  a = order(&w, 1, KBK_SIDE_SELL, 10200, 100, mine, 1, &refusal);
  CHECK(refusal == 0);
  kbk_message_free(a);
  CHECK_STATUS(kbk_exchange_advance_time(w.ex, NULL, w.ledger, 300), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_expire_day(w.ex, w.reg, NULL, 300), KBK_STATUS_NULL_ARGUMENT);

  /* the outbox and queries with bad arguments */
  kbk_outgoing og;
  kbk_message *om = NULL;
  CHECK_STATUS(kbk_exchange_next_outgoing(w.ex, NULL, &om), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_next_outgoing(w.ex, &og, NULL), KBK_STATUS_NULL_ARGUMENT);
  drain(&w, &out);
  CHECK_STATUS(kbk_exchange_next_outgoing(w.ex, &og, &om), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_exchange_order(w.ex, sell, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_match_count(w.ex, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_holdings_of(w.ex, INV0, hs, 8, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_market_data(NULL, INST, &md), KBK_STATUS_NULL_ARGUMENT);

  /* counters and invariants */
  kbk_exchange_counters st;
  CHECK_OK(kbk_exchange_stats(w.ex, &st));
  CHECK(st.orders >= 8 && st.accepted >= 5 && st.matches == 1 && st.trades == 1);
  CHECK(st.refused >= 4 && st.amendments >= 5 && st.shares == 100 && st.anomalies == 0);
  CHECK(strtod(st.settled, NULL) == 10000.0);
  CHECK_STATUS(kbk_exchange_stats(w.ex, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_exchange_check_invariants(w.ex, w.reg, w.ledger));
  CHECK_OK(kbk_ledger_check(w.ledger));
  CHECK_OK(kbk_register_audit(w.reg));

  /* the ledger: inquiry, amounts, accounts */
  CHECK_OK(kbk_sign_account_inquiry(w.inv[1], INV0 + 1, INV0 + 1, ++w.seq[1], &req));
  rb = wire(req, &rl);
  kbk_message *answer = NULL;
  CHECK_OK(kbk_ledger_inquiry(w.ledger, rb, rl, &answer));
  CHECK_OK(kbk_message_get_string(answer, KBK_FIELD_AVAILABLE, 0, text, sizeof text, &n));
  CHECK(strtod(text, NULL) == 990000.0);
  CHECK(field_u64(answer, KBK_FIELD_OWNER) == INV0 + 1);
  CHECK(walk(answer) == 5);
  kbk_message_free(answer);
  CHECK_STATUS(kbk_ledger_inquiry(w.ledger, rb, rl, &answer), KBK_STATUS_SETTLE_REFUSED);
  CHECK_STATUS(kbk_ledger_inquiry(w.ledger, rb, rl - 2, &answer), KBK_STATUS_WIRE_MALFORMED);
  free(rb);
  kbk_message_free(req);
  uint64_t owner = 0;
  CHECK_OK(kbk_ledger_owner(w.ledger, INV0, &owner));
  CHECK(owner == INV0);
  CHECK_STATUS(kbk_ledger_owner(w.ledger, 5, &owner), KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_ledger_open_account(w.ledger, INV0, INV0), KBK_STATUS_SETTLE_DUPLICATE_ACCOUNT);
  CHECK_OK(kbk_ledger_open_account(w.ledger, 77, INV0));
  CHECK_OK(kbk_ledger_deposit(w.ledger, 77, "12.34"));
  CHECK_OK(kbk_ledger_withdraw(w.ledger, 77, "2.34"));
  balance(&w, 77, KBK_BALANCE_AVAILABLE, text);
  CHECK(strcmp(text, "10.00") == 0 || strcmp(text, "10") == 0);
  CHECK_STATUS(kbk_ledger_withdraw(w.ledger, 77, "11"), KBK_STATUS_SETTLE_INSUFFICIENT_FUNDS);
  CHECK_STATUS(kbk_ledger_deposit(w.ledger, 77, "-5"), KBK_STATUS_SETTLE_BAD_AMOUNT);
  CHECK_STATUS(kbk_ledger_deposit(w.ledger, 77, "abc"), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_ledger_deposit(w.ledger, 77, bad_utf8), KBK_STATUS_INVALID_UTF8);
  CHECK_STATUS(kbk_ledger_deposit(w.ledger, 77, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ledger_deposit(w.ledger, 78, "1"), KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT);
  CHECK_STATUS(kbk_ledger_balance(w.ledger, 77, 2, text, sizeof text, &n),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_ledger_balance(w.ledger, 77, 0, text, 2, &n), KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_ledger_balance(w.ledger, 78, 0, text, sizeof text, &n),
               KBK_STATUS_SETTLE_UNKNOWN_ACCOUNT);
  uint8_t weak[32] = {1};
  CHECK_STATUS(kbk_ledger_trust_exchange(w.ledger, EX_ID, weak), KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_STATUS(kbk_ledger_register_investor(w.ledger, INV0, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_ledger *l2 = NULL;
  CHECK_STATUS(kbk_ledger_new(9, NULL, &l2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ledger_new(9, w.set_key, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_ledger_free(NULL);

  /* exchange configuration errors */
  kbk_instrument_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.instrument = INST;
  spec.tick = "0.01";
  spec.lot_size = 10;
  spec.band_low = 9000;
  spec.band_high = 11000;
  spec.max_qty = 1000;
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, &spec), KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT);
  spec.instrument = 8;
  spec.band_low = 0;
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, &spec), KBK_STATUS_EXCHANGE_INVALID_INSTRUMENT);
  spec.band_low = 9000;
  spec.tick = "zero";
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, &spec), KBK_STATUS_INVALID_ARGUMENT);
  spec.tick = "0";
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, &spec), KBK_STATUS_INVALID_ARGUMENT);
  spec.tick = NULL;
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, &spec), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_add_instrument(w.ex, NULL), KBK_STATUS_NULL_ARGUMENT);
  spec.tick = "0.5";
  CHECK_OK(kbk_exchange_add_instrument(w.ex, &spec));
  CHECK_STATUS(kbk_exchange_add_attestation(w.ex, NULL, 10), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_revoke(w.ex, (const uint8_t *)"xx", 2), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_exchange_public_key(w.ex, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_exchange *x2 = NULL;
  kbk_exchange_config xc = {EX_ID, REG_ID, "a cent"};
  CHECK_STATUS(kbk_exchange_new(&xc, w.ex_key, &w.trust, w.reg, &x2), KBK_STATUS_INVALID_ARGUMENT);
  xc.minor_unit = "0.01";
  CHECK_STATUS(kbk_exchange_new(&xc, w.ex_key, &w.trust, NULL, &x2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_new(&xc, NULL, &w.trust, w.reg, &x2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_new(NULL, w.ex_key, &w.trust, w.reg, &x2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_exchange_new(&xc, w.ex_key, &w.trust, (kbk_register *)w.ex, &x2),
               KBK_STATUS_INVALID_HANDLE);
  CHECK(x2 == NULL);
  kbk_exchange_free(NULL);
  CHECK_OK(kbk_exchange_check_invariants(w.ex, w.reg, w.ledger));
  CHECK_STATUS(kbk_exchange_check_invariants(w.ex, w.reg, NULL), KBK_STATUS_NULL_ARGUMENT);

  kbk_message_free(out.last_cert);
  kbk_message_free(bought);
  kbk_message_free(cert);
  world_free(&w);
  return check_done("test_exchange");
}
