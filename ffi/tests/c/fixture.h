/* A small certificate market for the C tests: keys, a CA, attestations, a
 * register with one instrument, an exchange and a ledger, and investors
 * with cash. Every step is checked with CHECK_OK (check.h). */
#ifndef KBK_FIXTURE_H
#define KBK_FIXTURE_H
#include <stdint.h>
#include <stdlib.h>
#include "check.h"

#define CA_ID 1u
#define REG_ID 2u
#define EX_ID 3u
#define SET_ID 4u
#define INV0 1000u
#define NINV 3
#define INST 7u
#define FAR 4000000000000000000ull

typedef struct {
  kbk_keypair *ca_key, *reg_key, *ex_key, *set_key, *inv[NINV];
  kbk_ca *ca;
  kbk_trust trust;
  kbk_register *reg;
  kbk_exchange *ex;
  kbk_ledger *ledger;
  uint64_t seq[NINV];
  uint64_t now;
} world;

static inline kbk_keypair *key_from(uint8_t b) {
  uint8_t seed[32];
  kbk_keypair *k = NULL;
  memset(seed, b, sizeof seed);
  CHECK_OK(kbk_keypair_from_seed(seed, &k));
  return k;
}

/* Issues an attestation for `user` and registers it with the register and
 * the exchange (when they exist). Returns the attestation (caller frees). */
static inline kbk_message *attest(world *w, uint64_t user, kbk_keypair *k, uint32_t role,
                           uint64_t per_order_max) {
  uint8_t pk[32];
  kbk_policy p = {0};
  kbk_message *att = NULL;
  uint8_t buf[1024];
  size_t n = 0;
  p.usage_limit = UINT64_MAX;
  p.per_order_max = per_order_max;
  p.short_sale_ban = 1;
  CHECK_OK(kbk_keypair_public_key(k, pk));
  CHECK_OK(kbk_ca_issue(w->ca, user, "party", pk, 0, FAR, role, &p, &att));
  CHECK_OK(kbk_message_bytes(att, buf, sizeof buf, &n));
  if (w->reg) CHECK_OK(kbk_register_add_attestation(w->reg, buf, n));
  if (w->ex) CHECK_OK(kbk_exchange_add_attestation(w->ex, buf, n));
  return att;
}

static inline void world_new(world *w) {
  memset(w, 0, sizeof *w);
  w->now = 10;
  w->ca_key = key_from(1);
  w->reg_key = key_from(2);
  w->ex_key = key_from(3);
  w->set_key = key_from(4);
  for (int i = 0; i < NINV; i++) w->inv[i] = key_from((uint8_t)(10 + i));
  CHECK_OK(kbk_ca_new(CA_ID, "Test CA", w->ca_key, &w->ca));
  w->trust.ca_id = CA_ID;
  w->trust.ca_name = "Test CA";
  CHECK_OK(kbk_ca_public_key(w->ca, w->trust.ca_key));

  kbk_register_config rc;
  memset(&rc, 0, sizeof rc);
  rc.user_id = REG_ID;
  rc.certificate_lifetime = FAR;
  rc.id_capacity = 1024;
  rc.name = "Test Transfer Agent";
  rc.address = "https://register.invalid";
  memset(rc.id_secret, 9, sizeof rc.id_secret);
  CHECK_OK(kbk_register_new(&rc, w->reg_key, &w->trust, &w->reg));
  kbk_register_instrument ri;
  memset(&ri, 0, sizeof ri);
  ri.instrument = INST;
  ri.company_name = "Kabu KK";
  ri.company_founded = 19500101;
  ri.par_value = 50;
  ri.authorized = 1000000;
  ri.restriction = KBK_RESTRICTION_FREE;
  ri.conditions = "ordinary issue";
  CHECK_OK(kbk_register_add_instrument(w->reg, &ri));

  kbk_exchange_config xc = {EX_ID, REG_ID, "0.01"};
  CHECK_OK(kbk_exchange_new(&xc, w->ex_key, &w->trust, w->reg, &w->ex));
  kbk_instrument_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.instrument = INST;
  spec.tick = "0.01";
  spec.lot_size = 10;
  spec.band_low = 9000;
  spec.band_high = 11000;
  spec.max_qty = 1000000;
  CHECK_OK(kbk_exchange_add_instrument(w->ex, &spec));

  CHECK_OK(kbk_ledger_new(SET_ID, w->set_key, &w->ledger));
  uint8_t expk[32];
  CHECK_OK(kbk_exchange_public_key(w->ex, expk));
  CHECK_OK(kbk_ledger_trust_exchange(w->ledger, EX_ID, expk));

  kbk_message_free(attest(w, REG_ID, w->reg_key, KBK_ROLE_REGISTER, UINT64_MAX));
  kbk_message_free(attest(w, EX_ID, w->ex_key, KBK_ROLE_EXCHANGE, UINT64_MAX));
  kbk_message_free(attest(w, SET_ID, w->set_key, KBK_ROLE_SETTLEMENT, UINT64_MAX));
  for (int i = 0; i < NINV; i++) {
    uint64_t id = INV0 + (uint64_t)i;
    uint8_t pk[32];
    kbk_message_free(attest(w, id, w->inv[i], KBK_ROLE_INVESTOR, 100000));
    CHECK_OK(kbk_keypair_public_key(w->inv[i], pk));
    CHECK_OK(kbk_ledger_register_investor(w->ledger, id, pk));
    CHECK_OK(kbk_ledger_open_account(w->ledger, id, id));
    CHECK_OK(kbk_ledger_deposit(w->ledger, id, "1000000.00"));
  }
}

static inline void world_free(world *w) {
  kbk_exchange_free(w->ex);
  kbk_ledger_free(w->ledger);
  kbk_register_free(w->reg);
  kbk_ca_free(w->ca);
  kbk_keypair_free(w->ca_key);
  kbk_keypair_free(w->reg_key);
  kbk_keypair_free(w->ex_key);
  kbk_keypair_free(w->set_key);
  for (int i = 0; i < NINV; i++) kbk_keypair_free(w->inv[i]);
}

/* The wire bytes of a message in a fresh malloc'd buffer. */
static inline uint8_t *wire(const kbk_message *m, size_t *len) {
  size_t n = 0;
  uint8_t *b;
  CHECK_OK(kbk_message_len(m, &n));
  b = (uint8_t *)malloc(n ? n : 1);
  CHECK_OK(kbk_message_bytes(m, b, n, len));
  return b;
}

static inline uint64_t field_u64(const kbk_message *m, uint32_t field) {
  uint64_t v = 0;
  CHECK_OK(kbk_message_get_u64(m, field, 0, &v));
  return v;
}

/* Reads every field of `m` with every getter: each item must be readable
 * by exactly one of them, and nothing may fail otherwise. Returns the
 * number of fields the kind has. */
static inline int walk(const kbk_message *m) {
  int fields = 0;
  for (uint32_t f = 0; f <= KBK_FIELD_MAX + 1; f++) {
    size_t count = 0, n = 0;
    kbk_status s = kbk_message_field_count(m, f, &count);
    if (s == KBK_STATUS_MESSAGE_NO_FIELD) continue;
    CHECK_OK(s);
    CHECK(f >= 1 && f <= KBK_FIELD_MAX);
    fields++;
    for (size_t i = 0; i <= count; i++) {
      uint64_t u;
      int64_t v;
      char text[1024];
      uint8_t bytes[64];
      kbk_cert_id id;
      kbk_message *nested = NULL;
      kbk_status r[6];
      r[0] = kbk_message_get_u64(m, f, i, &u);
      r[1] = kbk_message_get_i64(m, f, i, &v);
      r[2] = kbk_message_get_string(m, f, i, text, sizeof text, &n);
      r[3] = kbk_message_get_bytes(m, f, i, bytes, sizeof bytes, &n);
      r[4] = kbk_message_get_cert_id(m, f, i, &id);
      r[5] = kbk_message_get_message(m, f, i, &nested);
      int good = 0;
      for (int g = 0; g < 6; g++) {
        if (r[g] == KBK_STATUS_OK) good++;
        else if (i == count) CHECK(r[g] == KBK_STATUS_MESSAGE_NO_FIELD);
        else CHECK(r[g] == KBK_STATUS_MESSAGE_FIELD_TYPE);
      }
      CHECK(good == (i < count ? 1 : 0));
      if (nested) CHECK(walk(nested) > 0);
      kbk_message_free(nested);
    }
  }
  return fields;
}

/* Investor i asks the register for `qty` new shares; the certificate. */
static inline kbk_message *issue(world *w, int i, uint64_t qty) {
  kbk_issue_request r;
  kbk_message *req = NULL, *cert = NULL;
  size_t n = 0;
  uint8_t *b;
  memset(&r, 0, sizeof r);
  r.user_id = INV0 + (uint64_t)i;
  r.quantity = qty;
  r.seq = ++w->seq[i];
  r.name_address = "Investor, Tokyo";
  r.dividend_account = "div-acct";
  r.instrument = INST;
  CHECK_OK(kbk_sign_issue(w->inv[i], &r, &req));
  b = wire(req, &n);
  CHECK_OK(kbk_register_issue(w->reg, b, n, w->now, &cert));
  free(b);
  kbk_message_free(req);
  return cert;
}

/* Investor i's limit order with a time in force, signed with `key`, as
 * wire bytes (malloc'd; the caller frees); certificates for a sell. */
static inline uint8_t *signed_order_tif(world *w, int i, const kbk_keypair *key, uint8_t side,
                                        int64_t price, uint64_t qty, uint8_t tif, uint64_t expire,
                                        const kbk_message *const *certs, size_t ncerts,
                                        size_t *len) {
  kbk_order_request o;
  kbk_message *req = NULL;
  uint8_t *b;
  memset(&o, 0, sizeof o);
  o.user_id = INV0 + (uint64_t)i;
  o.instrument = INST;
  o.side = side;
  o.has_price = 1;
  o.price = price;
  o.quantity = qty;
  o.tif = tif;
  o.expire = expire;
  o.name_address = "Investor, Tokyo";
  o.account = INV0 + (uint64_t)i;
  o.seq = ++w->seq[i];
  CHECK_OK(kbk_sign_order(key, &o, certs, ncerts, &req));
  b = wire(req, len);
  kbk_message_free(req);
  return b;
}

/* Investor i's limit order with a time in force; certificates for a sell.
 * Returns the answer (receipt or error notice) and writes the refusal. */
static inline kbk_message *order_tif(world *w, int i, uint8_t side, int64_t price, uint64_t qty,
                                     uint8_t tif, uint64_t expire,
                                     const kbk_message *const *certs, size_t ncerts,
                                     uint32_t *refusal) {
  kbk_message *answer = NULL;
  size_t n = 0;
  uint8_t *b = signed_order_tif(w, i, w->inv[i], side, price, qty, tif, expire, certs, ncerts, &n);
  CHECK_OK(kbk_exchange_submit(w->ex, w->reg, w->ledger, b, n, w->now, &answer, refusal));
  free(b);
  return answer;
}

static inline kbk_message *order(world *w, int i, uint8_t side, int64_t price, uint64_t qty,
                                 const kbk_message *const *certs, size_t ncerts,
                                 uint32_t *refusal) {
  return order_tif(w, i, side, price, qty, KBK_TIF_GTC, 0, certs, ncerts, refusal);
}
#endif
