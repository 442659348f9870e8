/* Keys, raw signatures, messages of every kind (decode, fields, verify,
 * bytes), the request builders, the CA and identity stores, and bad input
 * to each: NULL, out-of-range values, wrong lengths, invalid UTF-8,
 * malformed bytes. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include "fixture.h"

static const char bad_utf8[] = {(char)0xff, (char)0xfe, 0};

static void keys(void) {
  uint8_t seed[32], pk[32], pk2[32], sig[64], d[32], d2[32];
  const uint8_t msg[] = "hello";
  kbk_keypair *k = NULL, *g = NULL;
  memset(seed, 5, sizeof seed);

  CHECK_STATUS(kbk_keypair_from_seed(NULL, &k), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_keypair_from_seed(seed, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(k == NULL);
  CHECK_OK(kbk_keypair_from_seed(seed, &k));
  CHECK_OK(kbk_keypair_generate(&g));
  CHECK_STATUS(kbk_keypair_generate(NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_keypair_public_key(k, pk));
  CHECK_OK(kbk_keypair_public_key(g, pk2));
  CHECK(memcmp(pk, pk2, 32) != 0);
  CHECK_STATUS(kbk_keypair_public_key(NULL, pk), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_keypair_public_key(k, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_public_key_check(pk));
  CHECK_STATUS(kbk_public_key_check(NULL), KBK_STATUS_NULL_ARGUMENT);

  /* the same seed, the same key */
  kbk_keypair *k2 = NULL;
  CHECK_OK(kbk_keypair_from_seed(seed, &k2));
  CHECK_OK(kbk_keypair_public_key(k2, pk2));
  CHECK(memcmp(pk, pk2, 32) == 0);
  kbk_keypair_free(k2);

  /* weak (small-order) and invalid keys */
  uint8_t weak[32] = {1};
  CHECK_STATUS(kbk_public_key_check(weak), KBK_STATUS_CRYPTO_WEAK_KEY);
  uint8_t bad[32] = {2}; /* y = 2 has no x on the curve */
  CHECK_STATUS(kbk_public_key_check(bad), KBK_STATUS_CRYPTO_BAD_KEY);

  /* sign and verify with a kind */
  CHECK_OK(kbk_keypair_sign(k, KBK_KIND_ORDER_REQUEST, msg, 5, sig));
  CHECK_OK(kbk_verify(pk, KBK_KIND_ORDER_REQUEST, msg, 5, sig));
  /* another kind: the domain label differs, so the signature fails */
  CHECK_STATUS(kbk_verify(pk, KBK_KIND_CANCEL_REQUEST, msg, 5, sig),
               KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  CHECK_STATUS(kbk_verify(pk, KBK_KIND_ORDER_REQUEST, msg, 4, sig),
               KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  CHECK_STATUS(kbk_verify(weak, KBK_KIND_ORDER_REQUEST, msg, 5, sig),
               KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_STATUS(kbk_verify(pk, 0, msg, 5, sig), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_verify(pk, 26, msg, 5, sig), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_verify(pk, KBK_KIND_ORDER_REQUEST, NULL, 5, sig),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_verify(pk, KBK_KIND_ORDER_REQUEST, msg, 5, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_verify(NULL, KBK_KIND_ORDER_REQUEST, msg, 5, sig), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_keypair_sign(k, 0, msg, 5, sig), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_keypair_sign(k, 200, msg, 5, sig), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_keypair_sign(k, 1, NULL, 5, sig), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_keypair_sign(k, 1, msg, 5, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_keypair_sign(NULL, 1, msg, 5, sig), KBK_STATUS_NULL_ARGUMENT);
  /* empty input is fine (NULL with length 0) */
  CHECK_OK(kbk_keypair_sign(k, 1, NULL, 0, sig));
  CHECK_OK(kbk_verify(pk, 1, NULL, 0, sig));

  /* a handle of another type is refused */
  kbk_book *book = NULL;
  CHECK_OK(kbk_book_new(NULL, &book));
  CHECK_STATUS(kbk_keypair_public_key((const kbk_keypair *)book, pk),
               KBK_STATUS_INVALID_HANDLE);
  kbk_book_free(book);

  /* digest */
  CHECK_OK(kbk_digest(msg, 5, d));
  CHECK_OK(kbk_digest(msg, 5, d2));
  CHECK(memcmp(d, d2, 32) == 0);
  CHECK_OK(kbk_digest(msg, 4, d2));
  CHECK(memcmp(d, d2, 32) != 0);
  CHECK_STATUS(kbk_digest(NULL, 5, d), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_digest(msg, 5, NULL), KBK_STATUS_NULL_ARGUMENT);

  kbk_keypair_free(k);
  kbk_keypair_free(g);
  kbk_keypair_free(NULL);
}

/* Builds every request kind an investor sends and reads it back. */
static void builders(world *w) {
  kbk_keypair *k = w->inv[0];
  uint8_t pk[32], d[32], b32[32];
  size_t n = 0;
  uint8_t kind = 0;
  uint64_t u = 0;
  int64_t i64 = 0;
  char text[128];
  CHECK_OK(kbk_keypair_public_key(k, pk));

  /* cancel / reduce / modify */
  kbk_message *m = NULL;
  CHECK_OK(kbk_sign_cancel(k, INV0, 42, 7, &m));
  CHECK_OK(kbk_message_kind(m, &kind));
  CHECK(kind == KBK_KIND_CANCEL_REQUEST);
  CHECK_OK(kbk_message_signer(m, &u));
  CHECK(u == INV0);
  CHECK(field_u64(m, KBK_FIELD_RECEPTION_NUMBER) == 42);
  CHECK(field_u64(m, KBK_FIELD_SEQ) == 7);
  CHECK_OK(kbk_message_verify(m, pk));
  CHECK_STATUS(kbk_message_verify(m, w->trust.ca_key), KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  kbk_message_free(m);
  CHECK_OK(kbk_sign_reduce(k, INV0, 42, 10, 8, &m));
  CHECK(field_u64(m, KBK_FIELD_BY) == 10);
  kbk_message_free(m);
  CHECK_OK(kbk_sign_modify(k, INV0, 42, -5, 30, 9, &m));
  CHECK_OK(kbk_message_get_i64(m, KBK_FIELD_PRICE, 0, &i64));
  CHECK(i64 == -5);
  CHECK(field_u64(m, KBK_FIELD_QUANTITY) == 30);
  CHECK_STATUS(kbk_message_get_u64(m, KBK_FIELD_PRICE, 0, &u), KBK_STATUS_MESSAGE_FIELD_TYPE);
  CHECK_STATUS(kbk_message_get_u64(m, KBK_FIELD_AMOUNT, 0, &u), KBK_STATUS_MESSAGE_NO_FIELD);
  CHECK_STATUS(kbk_message_get_u64(m, KBK_FIELD_QUANTITY, 1, &u), KBK_STATUS_MESSAGE_NO_FIELD);
  kbk_message_free(m);
  CHECK_STATUS(kbk_sign_cancel(NULL, INV0, 1, 1, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_cancel(k, INV0, 1, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_reduce(NULL, INV0, 1, 1, 1, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_modify(k, INV0, 1, 1, 1, 1, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* issue request, with a convertible class */
  kbk_issue_request ir;
  memset(&ir, 0, sizeof ir);
  ir.user_id = INV0;
  ir.quantity = 100;
  ir.seq = 1;
  ir.name_address = "Alice, Tokyo";
  ir.dividend_account = "div";
  ir.instrument = INST;
  ir.share_class = 3;
  ir.class_terms = "1:1 from 2030";
  CHECK_OK(kbk_sign_issue(k, &ir, &m));
  CHECK(field_u64(m, KBK_FIELD_CLASS) == 3);
  CHECK_OK(kbk_message_get_string(m, KBK_FIELD_CLASS_TERMS, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "1:1 from 2030") == 0 && n == 13);
  CHECK_OK(kbk_message_get_string(m, KBK_FIELD_NAME_ADDRESS, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "Alice, Tokyo") == 0);
  CHECK_STATUS(kbk_message_get_string(m, KBK_FIELD_NAME_ADDRESS, 0, text, 4, &n),
               KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_message_get_string(m, KBK_FIELD_QUANTITY, 0, text, sizeof text, &n),
               KBK_STATUS_MESSAGE_FIELD_TYPE);
  kbk_message_free(m);
  ir.share_class = 4;
  CHECK_STATUS(kbk_sign_issue(k, &ir, &m), KBK_STATUS_INVALID_ARGUMENT);
  ir.share_class = 3;
  ir.class_terms = NULL;
  CHECK_STATUS(kbk_sign_issue(k, &ir, &m), KBK_STATUS_NULL_ARGUMENT);
  ir.share_class = 0;
  ir.name_address = bad_utf8;
  CHECK_STATUS(kbk_sign_issue(k, &ir, &m), KBK_STATUS_INVALID_UTF8);
  CHECK_STATUS(kbk_sign_issue(k, NULL, &m), KBK_STATUS_NULL_ARGUMENT);

  /* certificate request, holdings and account inquiries */
  CHECK_OK(kbk_sign_certificate_request(k, INV0, 3, "div", 2, &m));
  CHECK(field_u64(m, KBK_FIELD_TRANSFER_NUMBER) == 3);
  kbk_message_free(m);
  CHECK_STATUS(kbk_sign_certificate_request(k, INV0, 3, NULL, 2, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_certificate_request(k, INV0, 3, bad_utf8, 2, &m),
               KBK_STATUS_INVALID_UTF8);
  CHECK_OK(kbk_sign_holdings_inquiry(k, INV0, 0, 0, 3, &m));
  CHECK_OK(kbk_message_field_count(m, KBK_FIELD_INSTRUMENT, &n));
  CHECK(n == 0);
  CHECK_STATUS(kbk_message_get_u64(m, KBK_FIELD_INSTRUMENT, 0, &u), KBK_STATUS_MESSAGE_NO_FIELD);
  kbk_message_free(m);
  CHECK_OK(kbk_sign_holdings_inquiry(k, INV0, 1, INST, 3, &m));
  CHECK(field_u64(m, KBK_FIELD_INSTRUMENT) == INST);
  kbk_message_free(m);
  CHECK_STATUS(kbk_sign_holdings_inquiry(k, INV0, 2, INST, 3, &m), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_OK(kbk_sign_account_inquiry(k, INV0, INV0, 4, &m));
  CHECK(field_u64(m, KBK_FIELD_ACCOUNT) == INV0);
  kbk_message_free(m);
  CHECK_STATUS(kbk_sign_account_inquiry(k, INV0, INV0, 4, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* reissue: lost, split, merge, and malformed ones */
  kbk_cert_id ids[2] = {{5, {1}}, {6, {2}}};
  uint64_t parts[2] = {40, 60};
  kbk_cert_id got;
  CHECK_OK(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_LOST, ids, 1, NULL, 0, 5, &m));
  CHECK(field_u64(m, KBK_FIELD_REISSUE_KIND) == KBK_REISSUE_LOST);
  CHECK_OK(kbk_message_get_cert_id(m, KBK_FIELD_CERT_IDS, 0, &got));
  CHECK(got.serial == 5 && got.tag[0] == 1);
  kbk_message_free(m);
  CHECK_OK(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_SPLIT, ids, 1, parts, 2, 5, &m));
  CHECK_OK(kbk_message_field_count(m, KBK_FIELD_PARTS, &n));
  CHECK(n == 2);
  CHECK_OK(kbk_message_get_u64(m, KBK_FIELD_PARTS, 1, &u));
  CHECK(u == 60);
  CHECK_STATUS(kbk_message_get_cert_id(m, KBK_FIELD_PARTS, 0, &got),
               KBK_STATUS_MESSAGE_FIELD_TYPE);
  kbk_message_free(m);
  CHECK_OK(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_MERGE, ids, 2, NULL, 0, 5, &m));
  CHECK_OK(kbk_message_field_count(m, KBK_FIELD_CERT_IDS, &n));
  CHECK(n == 2);
  kbk_message_free(m);
  CHECK_STATUS(kbk_sign_reissue(k, INV0, INST, 3, ids, 1, NULL, 0, 5, &m),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_LOST, ids, 2, NULL, 0, 5, &m),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_LOST, ids, 1, parts, 2, 5, &m),
               KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_sign_reissue(k, INV0, INST, KBK_REISSUE_MERGE, NULL, 2, NULL, 0, 5, &m),
               KBK_STATUS_NULL_ARGUMENT);

  /* an order: fields, optional price and cash cap, digests */
  kbk_order_request o;
  memset(&o, 0, sizeof o);
  o.user_id = INV0;
  o.instrument = INST;
  o.side = KBK_SIDE_BUY;
  o.has_price = 0;
  o.quantity = 10;
  o.tif = KBK_TIF_GTD;
  o.expire = 99;
  o.name_address = "Alice";
  o.account = INV0;
  o.cash_cap = "1234.50";
  o.seq = 6;
  CHECK_OK(kbk_sign_order(k, &o, NULL, 0, &m));
  CHECK_OK(kbk_message_field_count(m, KBK_FIELD_PRICE, &n));
  CHECK(n == 0);
  CHECK(field_u64(m, KBK_FIELD_TIF) == KBK_TIF_GTD);
  CHECK(field_u64(m, KBK_FIELD_EXPIRE) == 99);
  CHECK_OK(kbk_message_get_string(m, KBK_FIELD_CASH_CAP, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "1234.5") == 0); /* canonical: no trailing zeros */
  CHECK_OK(kbk_message_field_count(m, KBK_FIELD_CERTIFICATES, &n));
  CHECK(n == 0);
  CHECK(walk(m) == 14);
  CHECK_OK(kbk_message_digest(m, d));
  size_t len = 0;
  uint8_t *bytes = wire(m, &len);
  CHECK_OK(kbk_digest(bytes, len, b32));
  CHECK(memcmp(d, b32, 32) == 0);
  /* decode the bytes again: the same message */
  kbk_message *again = NULL;
  CHECK_OK(kbk_message_decode(bytes, len, &again));
  CHECK_OK(kbk_message_digest(again, b32));
  CHECK(memcmp(d, b32, 32) == 0);
  CHECK_OK(kbk_message_verify(again, pk));
  kbk_message_free(again);
  /* malformed: truncated, trailing byte, bad kind byte, bad version */
  CHECK_STATUS(kbk_message_decode(bytes, len - 1, &again), KBK_STATUS_WIRE_MALFORMED);
  uint8_t *longer = (uint8_t *)malloc(len + 1);
  memcpy(longer, bytes, len);
  longer[len] = 0;
  CHECK_STATUS(kbk_message_decode(longer, len + 1, &again), KBK_STATUS_WIRE_MALFORMED);
  longer[1] = 99;
  CHECK_STATUS(kbk_message_decode(longer, len, &again), KBK_STATUS_WIRE_MALFORMED);
  longer[1] = bytes[1];
  longer[0] = 7;
  CHECK_STATUS(kbk_message_decode(longer, len, &again), KBK_STATUS_WIRE_MALFORMED);
  /* a flipped bit in the body still decodes but no longer verifies */
  memcpy(longer, bytes, len);
  longer[len - 1] ^= 1;
  CHECK_OK(kbk_message_decode(longer, len, &again));
  CHECK_STATUS(kbk_message_verify(again, pk), KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  kbk_message_free(again);
  free(longer);
  CHECK_STATUS(kbk_message_decode(NULL, 5, &again), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_decode(bytes, len, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_decode(NULL, 0, &again), KBK_STATUS_WIRE_MALFORMED);
  /* buffers */
  uint8_t small[4];
  CHECK_STATUS(kbk_message_bytes(m, small, sizeof small, &n), KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_message_bytes(m, NULL, len, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_bytes(m, bytes, len, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_len(NULL, &n), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_kind(m, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_signer(NULL, &u), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_digest(m, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_verify(m, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_field_count(m, KBK_FIELD_SEQ, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_field_count(m, 9999, &n), KBK_STATUS_MESSAGE_NO_FIELD);
  CHECK_STATUS(kbk_message_get_i64(m, KBK_FIELD_SEQ, 0, &i64), KBK_STATUS_MESSAGE_FIELD_TYPE);
  CHECK_STATUS(kbk_message_get_i64(m, KBK_FIELD_SEQ, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_message_get_bytes(m, KBK_FIELD_SEQ, 0, b32, 32, &n),
               KBK_STATUS_MESSAGE_FIELD_TYPE);
  CHECK_STATUS(kbk_message_get_message(m, KBK_FIELD_CERTIFICATES, 0, &again),
               KBK_STATUS_MESSAGE_NO_FIELD);
  CHECK_STATUS(kbk_message_get_message(m, KBK_FIELD_SEQ, 0, &again),
               KBK_STATUS_MESSAGE_FIELD_TYPE);
  CHECK_STATUS(kbk_message_get_cert_id(m, KBK_FIELD_SEQ, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  free(bytes);
  kbk_message_free(m);

  o.side = 2;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_ARGUMENT);
  o.side = KBK_SIDE_BUY;
  o.tif = 5;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_ARGUMENT);
  o.tif = KBK_TIF_GTC;
  o.post_only = 2;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_ARGUMENT);
  o.post_only = 0;
  o.has_price = 7;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_ARGUMENT);
  o.has_price = 1;
  o.cash_cap = "lots";
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_ARGUMENT);
  o.cash_cap = bad_utf8;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_INVALID_UTF8);
  o.cash_cap = NULL;
  o.name_address = NULL;
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 0, &m), KBK_STATUS_NULL_ARGUMENT);
  o.name_address = "Alice";
  CHECK_STATUS(kbk_sign_order(k, &o, NULL, 2, &m), KBK_STATUS_NULL_ARGUMENT);
  /* an attached "certificate" that is not one */
  kbk_message *cancel = NULL;
  CHECK_OK(kbk_sign_cancel(k, INV0, 1, 1, &cancel));
  const kbk_message *not_certs[1] = {cancel};
  CHECK_STATUS(kbk_sign_order(k, &o, not_certs, 1, &m), KBK_STATUS_WIRE_WRONG_KIND);
  const kbk_message *null_certs[1] = {NULL};
  CHECK_STATUS(kbk_sign_order(k, &o, null_certs, 1, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_order(k, NULL, NULL, 0, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_order(NULL, &o, NULL, 0, &m), KBK_STATUS_NULL_ARGUMENT);
  /* endorse / direct transfer want a certificate and an endorsement */
  CHECK_STATUS(kbk_endorse(k, cancel, INV0 + 1, 1, &m), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_endorse(k, NULL, INV0 + 1, 1, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_endorse(NULL, cancel, INV0 + 1, 1, &m), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_sign_direct_transfer(k, INV0, "Bob", cancel, cancel, 1, &m),
               KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_sign_direct_transfer(k, INV0, NULL, cancel, cancel, 1, &m),
               KBK_STATUS_NULL_ARGUMENT);
  /* a handle of another type where a message is expected */
  CHECK_STATUS(kbk_message_kind((const kbk_message *)k, &kind), KBK_STATUS_INVALID_HANDLE);
  kbk_message_free(cancel);
  kbk_message_free(NULL);
}

/* The CA, attestations and their fields, revocation, identity stores. */
static void identities(world *w) {
  uint8_t pk[32], weak[32] = {1};
  kbk_policy pol = {500, 50, 1, {0}};
  kbk_message *att = NULL, *rev = NULL;
  size_t n = 0;
  uint64_t u = 0;
  char text[64];
  uint8_t b32[32];
  CHECK_OK(kbk_keypair_public_key(w->inv[1], pk));

  CHECK_OK(kbk_ca_issue(w->ca, INV0 + 1, "Bob", pk, 5, 100, KBK_ROLE_INVESTOR, &pol, &att));
  CHECK(walk(att) == 11);
  CHECK(field_u64(att, KBK_FIELD_USER_ID) == INV0 + 1);
  CHECK(field_u64(att, KBK_FIELD_ROLE) == KBK_ROLE_INVESTOR);
  CHECK(field_u64(att, KBK_FIELD_PER_ORDER_MAX) == 50);
  CHECK(field_u64(att, KBK_FIELD_SHORT_SALE_BAN) == 1);
  CHECK(field_u64(att, KBK_FIELD_NOT_AFTER) == 100);
  CHECK_OK(kbk_message_get_bytes(att, KBK_FIELD_PUBLIC_KEY, 0, b32, sizeof b32, &n));
  CHECK(n == 32 && memcmp(b32, pk, 32) == 0);
  CHECK_STATUS(kbk_message_get_bytes(att, KBK_FIELD_PUBLIC_KEY, 0, b32, 16, &n),
               KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_OK(kbk_message_get_string(att, KBK_FIELD_ISSUER, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "Test CA") == 0);
  CHECK_OK(kbk_message_verify(att, w->trust.ca_key));
  uint64_t serial = field_u64(att, KBK_FIELD_SERIAL);

  /* bad input to the CA */
  kbk_message *x = NULL;
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", weak, 0, 1, 0, &pol, &x), KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", pk, 0, 1, 4, &pol, &x), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", pk, 9, 1, 0, &pol, &x), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, bad_utf8, pk, 0, 1, 0, &pol, &x), KBK_STATUS_INVALID_UTF8);
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", pk, 0, 1, 0, NULL, &x), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", NULL, 0, 1, 0, &pol, &x), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_issue(NULL, 1, "X", pk, 0, 1, 0, &pol, &x), KBK_STATUS_NULL_ARGUMENT);
  kbk_policy badpol = {1, 1, 2, {0}};
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, "X", pk, 0, 1, 0, &badpol, &x),
               KBK_STATUS_INVALID_ARGUMENT);
  char longname[400];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  CHECK_STATUS(kbk_ca_issue(w->ca, 1, longname, pk, 0, 1, 0, &pol, &x),
               KBK_STATUS_IDENTITY_POLICY_VIOLATION);
  CHECK(x == NULL);
  kbk_ca *ca2 = NULL;
  CHECK_STATUS(kbk_ca_new(1, NULL, w->ca_key, &ca2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_new(1, "CA", NULL, &ca2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_new(1, "CA", w->ca_key, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_public_key(w->ca, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_ca_free(NULL);

  /* an identity store */
  kbk_identities *ids = NULL;
  CHECK_OK(kbk_identities_new(&w->trust, &ids));
  size_t alen = 0;
  uint8_t *ab = wire(att, &alen);
  CHECK_OK(kbk_identities_add(ids, ab, alen));
  kbk_message *req = NULL;
  kbk_party party;
  CHECK_OK(kbk_sign_cancel(w->inv[1], INV0 + 1, 1, 1, &req));
  CHECK_OK(kbk_identities_verify(ids, req, 50, &party));
  CHECK(party.user_id == INV0 + 1 && party.serial == serial && party.role == KBK_ROLE_INVESTOR);
  CHECK(party.policy.per_order_max == 50 && memcmp(party.public_key, pk, 32) == 0);
  CHECK_STATUS(kbk_identities_verify(ids, req, 101, &party), KBK_STATUS_IDENTITY_EXPIRED);
  CHECK_STATUS(kbk_identities_verify(ids, req, 4, &party), KBK_STATUS_IDENTITY_EXPIRED);
  kbk_message_free(req);
  /* signed by someone else's key: bad signature; an unknown signer */
  CHECK_OK(kbk_sign_cancel(w->inv[2], INV0 + 1, 1, 1, &req));
  CHECK_STATUS(kbk_identities_verify(ids, req, 50, &party), KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  kbk_message_free(req);
  CHECK_OK(kbk_sign_cancel(w->inv[2], INV0 + 2, 1, 1, &req));
  CHECK_STATUS(kbk_identities_verify(ids, req, 50, &party), KBK_STATUS_IDENTITY_UNKNOWN_PARTY);
  CHECK_STATUS(kbk_identities_verify(ids, NULL, 50, &party), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_identities_verify(ids, req, 50, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_message_free(req);
  /* revoke */
  CHECK_OK(kbk_ca_revoke(w->ca, &serial, 1, 60, &rev));
  CHECK_OK(kbk_message_field_count(rev, KBK_FIELD_SERIALS, &n));
  CHECK(n == 1);
  CHECK_OK(kbk_message_get_u64(rev, KBK_FIELD_SERIALS, 0, &u));
  CHECK(u == serial);
  CHECK(field_u64(rev, KBK_FIELD_AT) == 60);
  CHECK(walk(rev) == 2);
  size_t rlen = 0;
  uint8_t *rb = wire(rev, &rlen);
  CHECK_OK(kbk_identities_revoke(ids, rb, rlen));
  CHECK_OK(kbk_sign_cancel(w->inv[1], INV0 + 1, 1, 1, &req));
  CHECK_STATUS(kbk_identities_verify(ids, req, 50, &party), KBK_STATUS_IDENTITY_REVOKED);
  kbk_message_free(req);
  CHECK_STATUS(kbk_identities_add(ids, ab, alen), KBK_STATUS_IDENTITY_REVOKED);
  /* wrong kinds and malformed bytes */
  CHECK_STATUS(kbk_identities_add(ids, rb, rlen), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_identities_revoke(ids, ab, alen), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_identities_add(ids, ab, alen - 3), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_identities_add(ids, NULL, 4), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_ca_revoke(w->ca, NULL, 1, 60, &rev), KBK_STATUS_NULL_ARGUMENT);
  /* an attestation from another CA */
  kbk_ca *other = NULL;
  kbk_message *foreign = NULL;
  CHECK_OK(kbk_ca_new(CA_ID, "Test CA", w->inv[2], &other));
  CHECK_OK(kbk_ca_issue(other, INV0 + 2, "Eve", pk, 0, 100, KBK_ROLE_INVESTOR, &pol, &foreign));
  size_t flen = 0;
  uint8_t *fb = wire(foreign, &flen);
  CHECK_STATUS(kbk_identities_add(ids, fb, flen), KBK_STATUS_IDENTITY_BAD_ISSUER);
  free(fb);
  kbk_message_free(foreign);
  kbk_ca_free(other);
  /* a store with a bad trust */
  kbk_identities *bad = NULL;
  kbk_trust t = w->trust;
  memset(t.ca_key, 0, 32);
  t.ca_key[0] = 1;
  CHECK_STATUS(kbk_identities_new(&t, &bad), KBK_STATUS_CRYPTO_WEAK_KEY);
  t = w->trust;
  t.ca_name = bad_utf8;
  CHECK_STATUS(kbk_identities_new(&t, &bad), KBK_STATUS_INVALID_UTF8);
  CHECK_STATUS(kbk_identities_new(NULL, &bad), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_identities_new(&w->trust, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(bad == NULL);
  free(ab);
  free(rb);
  kbk_message_free(att);
  kbk_message_free(rev);
  kbk_identities_free(ids);
  kbk_identities_free(NULL);
}

/* kbk_keypair and kbk_message are immutable: one of each is used from
 * several threads at once. */
typedef struct {
  const kbk_keypair *key;
  const kbk_message *msg;
  uint8_t pk[32];
  int bad;
} shared;

static void *reader(void *arg) {
  shared *sh = (shared *)arg;
  for (int i = 0; i < 50; i++) {
    uint8_t sig[64], d[32];
    uint64_t seq = 0;
    const uint8_t data[3] = {1, 2, 3};
    if (kbk_message_verify(sh->msg, sh->pk) != KBK_STATUS_OK) sh->bad++;
    if (kbk_message_get_u64(sh->msg, KBK_FIELD_SEQ, 0, &seq) != KBK_STATUS_OK || seq != 7)
      sh->bad++;
    if (kbk_message_digest(sh->msg, d) != KBK_STATUS_OK) sh->bad++;
    if (kbk_keypair_sign(sh->key, KBK_KIND_ENDORSEMENT, data, 3, sig) != KBK_STATUS_OK ||
        kbk_verify(sh->pk, KBK_KIND_ENDORSEMENT, data, 3, sig) != KBK_STATUS_OK)
      sh->bad++;
  }
  return NULL;
}

static void threads(world *w) {
  kbk_message *m = NULL;
  CHECK_OK(kbk_sign_cancel(w->inv[0], INV0, 1, 7, &m));
  shared sh[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    sh[i].key = w->inv[0];
    sh[i].msg = m;
    sh[i].bad = 0;
    CHECK_OK(kbk_keypair_public_key(w->inv[0], sh[i].pk));
    CHECK(pthread_create(&t[i], NULL, reader, &sh[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    CHECK(pthread_join(t[i], NULL) == 0);
    CHECK(sh[i].bad == 0);
  }
  /* a misaligned pointer is not a handle */
  uint8_t kind = 0;
  CHECK_STATUS(kbk_message_kind((const kbk_message *)((const char *)m + 1), &kind),
               KBK_STATUS_INVALID_HANDLE);
  kbk_message_free(m);
}

static void batch(void) {
  kbk_keypair *k[3] = {key_from(41), key_from(42), key_from(43)};
  kbk_batch_item items[6];
  const uint8_t data[6][4] = {"abc", "def", "ghi", "jkl", "mno", "pqr"};
  size_t bad[6], nbad = 99;
  memset(items, 0, sizeof items);
  for (int i = 0; i < 6; i++) {
    items[i].bytes = data[i];
    items[i].len = 3;
    items[i].kind = (uint8_t)(1 + i);
    CHECK_OK(kbk_keypair_public_key(k[i % 3], items[i].key));
    CHECK_OK(kbk_keypair_sign(k[i % 3], items[i].kind, data[i], 3, items[i].sig));
  }
  CHECK_OK(kbk_verify_batch(items, 6, bad, 6, &nbad));
  CHECK(nbad == 0);
  CHECK_OK(kbk_verify_batch(NULL, 0, NULL, 0, &nbad));
  CHECK(nbad == 0);
  /* two bad ones: a flipped signature bit, a wrong kind */
  items[1].sig[5] ^= 1;
  items[4].kind = 25;
  CHECK_OK(kbk_verify_batch(items, 6, bad, 6, &nbad));
  CHECK(nbad == 2 && bad[0] == 1 && bad[1] == 4);
  /* room for one index: the count is still 2 */
  bad[1] = 77;
  CHECK_OK(kbk_verify_batch(items, 6, bad, 1, &nbad));
  CHECK(nbad == 2 && bad[0] == 1 && bad[1] == 77);
  CHECK_OK(kbk_verify_batch(items, 6, NULL, 0, &nbad));
  CHECK(nbad == 2);
  /* refused: a weak key, an unknown kind, NULLs */
  memset(items[2].key, 0, 32);
  items[2].key[0] = 1;
  CHECK_STATUS(kbk_verify_batch(items, 6, bad, 6, &nbad), KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_OK(kbk_keypair_public_key(k[2], items[2].key));
  items[3].kind = 0;
  CHECK_STATUS(kbk_verify_batch(items, 6, bad, 6, &nbad), KBK_STATUS_INVALID_ARGUMENT);
  items[3].kind = 4;
  items[0].bytes = NULL;
  CHECK_STATUS(kbk_verify_batch(items, 6, bad, 6, &nbad), KBK_STATUS_NULL_ARGUMENT);
  items[0].bytes = data[0];
  CHECK_STATUS(kbk_verify_batch(NULL, 6, bad, 6, &nbad), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_verify_batch(items, 6, NULL, 6, &nbad), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_verify_batch(items, 6, bad, 6, NULL), KBK_STATUS_NULL_ARGUMENT);
  for (int i = 0; i < 3; i++) kbk_keypair_free(k[i]);
}

static void refusal_names(void) {
  CHECK(strcmp(kbk_refusal_name(0), "accepted") == 0);
  CHECK(strcmp(kbk_refusal_name(1), "bad_signature") == 0);
  CHECK(strcmp(kbk_refusal_name(27), "insufficient_funds") == 0);
  CHECK(strcmp(kbk_refusal_name(9999), "unknown") == 0);
  for (uint32_t c = 1; c <= 37; c++) CHECK(strcmp(kbk_refusal_name(c), "unknown") != 0);
  /* every new status has a message */
  for (kbk_status s = 300; s < 500; s++) CHECK(kbk_status_message(s) != NULL);
  CHECK(strstr(kbk_status_message(KBK_STATUS_CRYPTO_WEAK_KEY), "weak") != NULL);
  CHECK(strstr(kbk_status_message(KBK_STATUS_EXCHANGE_INVARIANT), "invariant") != NULL);
}

int main(void) {
  world w;
  keys();
  world_new(&w);
  builders(&w);
  identities(&w);
  threads(&w);
  batch();
  refusal_names();
  world_free(&w);
  return check_done("test_crypto");
}
