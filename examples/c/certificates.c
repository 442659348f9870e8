/* A small electronic-certificate exchange embedding libkabuken: a CA
 * attests the parties, the register issues Aiko's certificate, Aiko sells
 * part of it, Ben and Chie buy with signed orders, the exchange matches,
 * transfers through the register (splitting the certificate) and settles
 * cash; the buyers claim their new certificates, Aiko cancels the rest and
 * gets her change certificate back; Ben then endorses his certificate to
 * Chie directly (phase 5). Every certificate is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kabuken.h"

enum { CA = 1, REGISTER = 2, EXCHANGE = 3, SETTLEMENT = 4, AIKO = 1001, BEN = 1002, CHIE = 1003 };
#define INSTRUMENT 7203u
#define FAR 4000000000000000000ull

static int failed = 0;
static kbk_message *bens_certificate = NULL; /* kept for the direct transfer */

/* Reports a failed call (with the last error) and remembers it. */
static int ok(kbk_status s, const char *what) {
  if (s == KBK_STATUS_OK) return 1;
  char msg[512];
  size_t n = 0;
  if (kbk_last_error(msg, sizeof msg, &n) != KBK_STATUS_OK) msg[0] = 0;
  fprintf(stderr, "%s: %s (%s)\n", what, kbk_status_message(s), msg);
  failed = 1;
  return 0;
}

static const char *name_of(uint64_t user) {
  switch (user) {
    case AIKO: return "Aiko";
    case BEN: return "Ben";
    case CHIE: return "Chie";
    default: return "?";
  }
}

static uint64_t u64_field(const kbk_message *m, uint32_t field) {
  uint64_t v = 0;
  ok(kbk_message_get_u64(m, field, 0, &v), "read a field");
  return v;
}

static void print_certificate(const char *label, const kbk_message *cert) {
  kbk_cert_id id = {0, {0}};
  char company[128] = "";
  size_t n = 0;
  uint8_t digest[32];
  ok(kbk_message_get_cert_id(cert, KBK_FIELD_CERT_ID, 0, &id), "certificate id");
  ok(kbk_message_get_string(cert, KBK_FIELD_COMPANY_NAME, 0, company, sizeof company, &n),
     "company");
  ok(kbk_message_digest(cert, digest), "digest");
  printf("  %-22s no.%llu id %llu-%02x%02x%02x%02x  %s  %llu shares of %s  (digest %02x%02x%02x%02x..)\n",
         label, (unsigned long long)u64_field(cert, KBK_FIELD_CERTIFICATE_NUMBER),
         (unsigned long long)id.serial, id.tag[0], id.tag[1], id.tag[2], id.tag[3],
         name_of(u64_field(cert, KBK_FIELD_HOLDER)),
         (unsigned long long)u64_field(cert, KBK_FIELD_QUANTITY), company, digest[0], digest[1],
         digest[2], digest[3]);
}

/* The wire bytes of a message (caller frees). */
static uint8_t *bytes_of(const kbk_message *m, size_t *len) {
  size_t n = 0;
  uint8_t *b = NULL;
  if (!ok(kbk_message_len(m, &n), "length")) return NULL;
  b = malloc(n);
  if (b && !ok(kbk_message_bytes(m, b, n, len), "bytes")) {
    free(b);
    b = NULL;
  }
  return b;
}

typedef struct {
  kbk_keypair *key[5];
  kbk_keypair *investor[3];
  kbk_ca *ca;
  kbk_trust trust;
  kbk_register *reg;
  kbk_exchange *ex;
  kbk_ledger *ledger;
  uint64_t seq[3];
  uint64_t now;
} market;

static kbk_keypair *key(uint8_t b) {
  uint8_t seed[32];
  kbk_keypair *k = NULL;
  memset(seed, b, sizeof seed);
  ok(kbk_keypair_from_seed(seed, &k), "key");
  return k;
}

/* The CA attests `user`; the register and the exchange learn of it. */
static void attest(market *m, uint64_t user, const char *name, kbk_keypair *k, uint32_t role) {
  uint8_t pk[32];
  kbk_policy policy = {100000000, 100000, 1, {0}};
  kbk_message *att = NULL;
  ok(kbk_keypair_public_key(k, pk), "public key");
  if (!ok(kbk_ca_issue(m->ca, user, name, pk, 0, FAR, role, &policy, &att), "attest")) return;
  size_t n = 0;
  uint8_t *b = bytes_of(att, &n);
  if (b) {
    ok(kbk_register_add_attestation(m->reg, b, n), "register learns party");
    ok(kbk_exchange_add_attestation(m->ex, b, n), "exchange learns party");
  }
  free(b);
  kbk_message_free(att);
}

static int setup(market *m) {
  memset(m, 0, sizeof *m);
  m->now = 1000;
  for (int i = 1; i <= 4; i++) m->key[i] = key((uint8_t)i);
  for (int i = 0; i < 3; i++) m->investor[i] = key((uint8_t)(20 + i));
  if (!ok(kbk_ca_new(CA, "Kabu CA", m->key[1], &m->ca), "CA")) return 0;
  m->trust.ca_id = CA;
  m->trust.ca_name = "Kabu CA";
  ok(kbk_ca_public_key(m->ca, m->trust.ca_key), "CA key");

  kbk_register_config rc;
  memset(&rc, 0, sizeof rc);
  rc.user_id = REGISTER;
  rc.certificate_lifetime = FAR;
  rc.id_capacity = 4096;
  rc.name = "Kabu Transfer Agent";
  rc.address = "1-1 Marunouchi, Tokyo";
  memset(rc.id_secret, 0x5a, sizeof rc.id_secret);
  if (!ok(kbk_register_new(&rc, m->key[2], &m->trust, &m->reg), "register")) return 0;
  kbk_register_instrument ri;
  memset(&ri, 0, sizeof ri);
  ri.instrument = INSTRUMENT;
  ri.company_name = "Kabu Motors KK";
  ri.company_founded = 19370828;
  ri.par_value = 50;
  ri.authorized = 1000000;
  ri.restriction = KBK_RESTRICTION_FREE;
  ri.conditions = "ordinary issue";
  ok(kbk_register_add_instrument(m->reg, &ri), "register instrument");

  kbk_exchange_config xc = {EXCHANGE, REGISTER, "0.01"};
  if (!ok(kbk_exchange_new(&xc, m->key[3], &m->trust, m->reg, &m->ex), "exchange")) return 0;
  kbk_instrument_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.instrument = INSTRUMENT;
  spec.tick = "0.01";
  spec.lot_size = 100;
  spec.band_low = 9000;
  spec.band_high = 11000;
  spec.max_qty = 100000;
  ok(kbk_exchange_add_instrument(m->ex, &spec), "list instrument");

  if (!ok(kbk_ledger_new(SETTLEMENT, m->key[4], &m->ledger), "ledger")) return 0;
  uint8_t xpk[32];
  ok(kbk_exchange_public_key(m->ex, xpk), "exchange key");
  ok(kbk_ledger_trust_exchange(m->ledger, EXCHANGE, xpk), "trust exchange");

  attest(m, REGISTER, "Kabu Transfer Agent", m->key[2], KBK_ROLE_REGISTER);
  attest(m, EXCHANGE, "Kabu Exchange", m->key[3], KBK_ROLE_EXCHANGE);
  attest(m, SETTLEMENT, "Kabu Settlement", m->key[4], KBK_ROLE_SETTLEMENT);
  const uint64_t ids[3] = {AIKO, BEN, CHIE};
  for (int i = 0; i < 3; i++) {
    uint8_t pk[32];
    attest(m, ids[i], name_of(ids[i]), m->investor[i], KBK_ROLE_INVESTOR);
    ok(kbk_keypair_public_key(m->investor[i], pk), "investor key");
    ok(kbk_ledger_register_investor(m->ledger, ids[i], pk), "ledger investor");
    ok(kbk_ledger_open_account(m->ledger, ids[i], ids[i]), "account");
    ok(kbk_ledger_deposit(m->ledger, ids[i], "100000.00"), "deposit");
  }
  return !failed;
}

static void teardown(market *m) {
  kbk_exchange_free(m->ex);
  kbk_ledger_free(m->ledger);
  kbk_register_free(m->reg);
  kbk_ca_free(m->ca);
  for (int i = 1; i <= 4; i++) kbk_keypair_free(m->key[i]);
  for (int i = 0; i < 3; i++) kbk_keypair_free(m->investor[i]);
}

/* Runs a register phase on a signed request (freed here). */
typedef kbk_status (*phase)(kbk_register *, const uint8_t *, size_t, uint64_t, kbk_message **);
static kbk_message *to_register(market *m, phase f, kbk_message *req, const char *what) {
  size_t n = 0;
  uint8_t *b = req ? bytes_of(req, &n) : NULL;
  kbk_message *answer = NULL;
  if (b) ok(f(m->reg, b, n, m->now, &answer), what);
  free(b);
  kbk_message_free(req);
  return answer;
}

/* Sends a signed request (freed here) to the exchange; prints the answer. */
static uint64_t to_exchange(market *m, kbk_message *req, const char *what) {
  size_t n = 0;
  uint8_t *b = req ? bytes_of(req, &n) : NULL;
  kbk_message *answer = NULL;
  uint32_t refusal = 0;
  uint64_t reception = 0;
  if (b && ok(kbk_exchange_submit(m->ex, m->reg, m->ledger, b, n, m->now, &answer, &refusal),
              what)) {
    reception = u64_field(answer, KBK_FIELD_RECEPTION_NUMBER);
    if (refusal == 0)
      printf("%-34s receipt, reception number %llu\n", what, (unsigned long long)reception);
    else
      printf("%-34s REFUSED: %s\n", what, kbk_refusal_name(refusal));
  }
  kbk_message_free(answer);
  free(b);
  kbk_message_free(req);
  m->now++;
  return reception;
}

static kbk_message *limit_order(market *m, int who, uint8_t side, int64_t price, uint64_t qty,
                                 const kbk_message *cert) {
  kbk_order_request o;
  kbk_message *req = NULL;
  const kbk_message *certs[1] = {cert};
  memset(&o, 0, sizeof o);
  o.user_id = (uint64_t)(AIKO + who);
  o.instrument = INSTRUMENT;
  o.side = side;
  o.has_price = 1;
  o.price = price;
  o.quantity = qty;
  o.tif = KBK_TIF_GTC;
  o.name_address = "Tokyo";
  o.account = (uint64_t)(AIKO + who);
  o.seq = ++m->seq[who];
  ok(kbk_sign_order(m->investor[who], &o, certs, cert ? 1 : 0, &req), "sign order");
  return req;
}

/* Delivers the outbox: buyers claim their certificates, released ones are
 * printed. */
static void deliver(market *m) {
  kbk_outgoing o;
  kbk_message *msg = NULL;
  while (kbk_exchange_next_outgoing(m->ex, &o, &msg) == KBK_STATUS_OK) {
    if (o.kind == KBK_OUT_COMPLETION && u64_field(msg, KBK_FIELD_SIDE) == KBK_SIDE_BUY) {
      int who = (int)(o.user - AIKO);
      uint64_t transfer = u64_field(msg, KBK_FIELD_TRANSFER_NUMBER);
      kbk_message *req = NULL;
      ok(kbk_sign_certificate_request(m->investor[who], o.user, transfer, "dividends",
                                      ++m->seq[who], &req),
         "sign claim");
      kbk_message *cert = to_register(m, kbk_register_claim_certificate, req, "claim");
      if (cert) {
        char label[64];
        snprintf(label, sizeof label, "%s claims (xfer %llu):", name_of(o.user),
                 (unsigned long long)transfer);
        print_certificate(label, cert);
      }
      if (o.user == BEN && !bens_certificate) {
        bens_certificate = cert;
        cert = NULL;
      }
      kbk_message_free(cert);
    } else if (o.kind == KBK_OUT_RELEASED_CERTIFICATE) {
      print_certificate("released to seller:", msg);
    } else if (o.kind == KBK_OUT_ERROR) {
      printf("  error notice to %s: %s\n", name_of(o.user),
             kbk_refusal_name((uint32_t)u64_field(msg, KBK_FIELD_REASON)));
    }
    kbk_message_free(msg);
    msg = NULL;
  }
}

static void report(market *m) {
  size_t count = 0;
  kbk_match mt;
  printf("\nmatches:\n");
  ok(kbk_exchange_match_count(m->ex, &count), "match count");
  for (size_t i = 0; i < count; i++) {
    if (!ok(kbk_exchange_match(m->ex, i, &mt), "match")) break;
    printf("  #%llu %s -> %s %llu @ %lld ticks, paid %s, transfer %llu, id %llu retired -> %llu%s\n",
           (unsigned long long)mt.match_number, name_of(mt.seller), name_of(mt.buyer),
           (unsigned long long)mt.quantity, (long long)mt.price, mt.amount,
           (unsigned long long)mt.transfer_number, (unsigned long long)mt.cert_id.serial,
           (unsigned long long)mt.new_cert_id.serial, mt.has_change ? " (+change)" : "");
  }
  kbk_market_data md;
  if (ok(kbk_exchange_market_data(m->ex, INSTRUMENT, &md), "market data"))
    printf("market: last %lld, volume %llu, bid %s, ask %s\n", (long long)md.last_price,
           (unsigned long long)md.volume, md.has_bid ? "yes" : "none",
           md.has_ask ? "yes" : "none");
  printf("cash:\n");
  const uint64_t ids[3] = {AIKO, BEN, CHIE};
  for (int i = 0; i < 3; i++) {
    char avail[KBK_DECIMAL_LEN], reserved[KBK_DECIMAL_LEN];
    size_t n = 0;
    ok(kbk_ledger_balance(m->ledger, ids[i], KBK_BALANCE_AVAILABLE, avail, sizeof avail, &n),
       "balance");
    ok(kbk_ledger_balance(m->ledger, ids[i], KBK_BALANCE_RESERVED, reserved, sizeof reserved,
                          &n),
       "reserved");
    kbk_holding h[8];
    size_t nh = 0;
    uint64_t shares = 0;
    ok(kbk_exchange_holdings_of(m->ex, ids[i], h, 8, &nh), "holdings");
    for (size_t j = 0; j < nh; j++) shares += h[j].shares;
    printf("  %-5s available %s, reserved %s, %llu shares in %zu certificate(s)\n",
           name_of(ids[i]), avail, reserved, (unsigned long long)shares, nh);
  }
  if (ok(kbk_exchange_check_invariants(m->ex, m->reg, m->ledger), "invariants"))
    printf("invariants hold\n");
}

int main(void) {
  market m;
  if (!setup(&m)) {
    teardown(&m);
    return 1;
  }
  printf("libkabuken %s: a certificate exchange\n\n", kbk_version());

  /* phase 1: Aiko asks the register for 1000 shares */
  kbk_issue_request ir;
  memset(&ir, 0, sizeof ir);
  ir.user_id = AIKO;
  ir.quantity = 1000;
  ir.seq = ++m.seq[0];
  ir.name_address = "Aiko, Shibuya, Tokyo";
  ir.dividend_account = "dividends";
  ir.instrument = INSTRUMENT;
  kbk_message *req = NULL;
  ok(kbk_sign_issue(m.investor[0], &ir, &req), "sign issue");
  kbk_message *aiko = to_register(&m, kbk_register_issue, req, "issue");
  if (!aiko) {
    teardown(&m);
    return 1;
  }
  print_certificate("issued to Aiko:", aiko);
  printf("\n");

  /* phase 2: orders */
  uint64_t sell = to_exchange(&m, limit_order(&m, 0, KBK_SIDE_SELL, 10100, 600, aiko),
                              "Aiko sells 600 @ 101.00");
  to_exchange(&m, limit_order(&m, 0, KBK_SIDE_SELL, 10000, 100, aiko),
              "Aiko sells the same again");
  to_exchange(&m, limit_order(&m, 1, KBK_SIDE_BUY, 10100, 200, NULL), "Ben buys 200 @ 101.00");
  deliver(&m);
  uint64_t chie = to_exchange(&m, limit_order(&m, 2, KBK_SIDE_BUY, 10050, 300, NULL),
                              "Chie bids 300 @ 100.50");
  kbk_message *mod = NULL;
  ok(kbk_sign_modify(m.investor[2], CHIE, chie, 10100, 300, ++m.seq[2], &mod), "sign modify");
  to_exchange(&m, mod, "Chie raises her bid to 101.00");
  deliver(&m);
  kbk_message *cancel = NULL;
  ok(kbk_sign_cancel(m.investor[0], AIKO, sell, ++m.seq[0], &cancel), "sign cancel");
  to_exchange(&m, cancel, "Aiko cancels the rest");
  deliver(&m);

  /* phase 5: Ben endorses his certificate to Chie outside the exchange;
   * Chie checks it offline, asks the register for the transfer, then
   * claims her new certificate with the transfer number. */
  if (bens_certificate) {
    uint8_t rpk[32], bpk[32];
    kbk_message *endo = NULL, *dt = NULL;
    ok(kbk_register_public_key(m.reg, rpk), "register key");
    ok(kbk_keypair_public_key(m.investor[1], bpk), "Ben's key");
    ok(kbk_endorse(m.investor[1], bens_certificate, CHIE, 1, &endo), "endorse");
    if (ok(kbk_endorsement_verify(bens_certificate, endo, CHIE, REGISTER, rpk, bpk, m.now),
           "check endorsement"))
      printf("\nChie checks Ben's endorsement: ok\n");
    ok(kbk_sign_direct_transfer(m.investor[2], CHIE, "Chie, Yokohama", bens_certificate, endo,
                                ++m.seq[2], &dt),
       "sign direct transfer");
    kbk_message_free(endo);
    kbk_message *resp = to_register(&m, kbk_register_direct_transfer, dt, "direct transfer");
    if (resp) {
      uint64_t transfer = u64_field(resp, KBK_FIELD_TRANSFER_NUMBER);
      kbk_message *claim = NULL;
      ok(kbk_sign_certificate_request(m.investor[2], CHIE, transfer, "dividends", ++m.seq[2],
                                      &claim),
         "sign claim");
      kbk_message *cert = to_register(&m, kbk_register_claim_certificate, claim, "claim");
      if (cert) print_certificate("Chie claims (direct):", cert);
      kbk_message_free(cert);
    }
    kbk_message_free(resp);
    kbk_message_free(bens_certificate);
  }

  report(&m);
  kbk_message_free(aiko);
  teardown(&m);
  return failed;
}
