/* The register through the C ABI: issue, certificate inspection, direct
 * transfer and claim, reissue (split, merge, lost), holdings inquiry, the
 * signed ID list and its follower, audit, and bad input to each. */
#include "fixture.h"

static const char bad_utf8[] = {(char)0xff, 0};

/* Runs a register phase on a request message; frees the request. */
typedef kbk_status (*phase_fn)(kbk_register *, const uint8_t *, size_t, uint64_t,
                               kbk_message **);
static kbk_status run(world *w, phase_fn f, kbk_message *req, kbk_message **out) {
  size_t n = 0;
  uint8_t *b = wire(req, &n);
  kbk_status s = f(w->reg, b, n, w->now, out);
  CHECK(walk(req) > 0);
  if (s == KBK_STATUS_OK) CHECK(walk(*out) > 0);
  free(b);
  kbk_message_free(req);
  return s;
}

static kbk_message *claim(world *w, int i, uint64_t transfer, kbk_status want) {
  kbk_message *req = NULL, *cert = NULL;
  CHECK_OK(kbk_sign_certificate_request(w->inv[i], INV0 + (uint64_t)i, transfer, "div",
                                        ++w->seq[i], &req));
  CHECK_STATUS(run(w, kbk_register_claim_certificate, req, &cert), want);
  return cert;
}

static kbk_cert_id id_of(const kbk_message *cert) {
  kbk_cert_id id = {0, {0}};
  CHECK_OK(kbk_message_get_cert_id(cert, KBK_FIELD_CERT_ID, 0, &id));
  return id;
}

static uint8_t contains(kbk_id_list *l, kbk_cert_id id, uint64_t holder) {
  uint8_t v = 9;
  CHECK_OK(kbk_id_list_contains(l, &id, holder, &v));
  return v;
}

/* Applies every delta after the follower's sequence number; returns how
 * many were applied. */
static int follow(world *w, kbk_id_list *l) {
  int applied = 0;
  for (;;) {
    uint64_t seq = 0;
    kbk_message *d = NULL;
    CHECK_OK(kbk_id_list_seq(l, &seq));
    kbk_status s = kbk_register_id_list_delta(w->reg, INST, seq, &d);
    if (s == KBK_STATUS_NOT_FOUND) break;
    CHECK_OK(s);
    if (s != KBK_STATUS_OK) break;
    CHECK(field_u64(d, KBK_FIELD_SEQ) == seq + 1);
    CHECK(walk(d) == 5);
    size_t n = 0;
    uint8_t *b = wire(d, &n), flag = 9;
    CHECK_OK(kbk_id_list_apply_delta(l, b, n, &flag));
    CHECK(flag == 1);
    CHECK_OK(kbk_id_list_apply_delta(l, b, n, &flag)); /* again: already applied */
    CHECK(flag == 0);
    free(b);
    kbk_message_free(d);
    applied++;
  }
  return applied;
}

int main(void) {
  world w;
  uint8_t rpk[32], d1[32], d2[32], weak[32] = {1};
  char text[128];
  size_t n = 0;
  uint64_t u = 0;
  uint8_t v = 0;
  world_new(&w);
  CHECK_OK(kbk_register_public_key(w.reg, rpk));
  CHECK_STATUS(kbk_register_public_key(w.reg, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* phase 1: issue, and the certificate's fields */
  kbk_message *cert = issue(&w, 0, 1000);
  CHECK(cert != NULL);
  uint8_t kind = 0;
  CHECK_OK(kbk_message_kind(cert, &kind));
  CHECK(kind == KBK_KIND_CERTIFICATE);
  CHECK_OK(kbk_message_verify(cert, rpk));
  CHECK_OK(kbk_message_signer(cert, &u));
  CHECK(u == REG_ID);
  CHECK(field_u64(cert, KBK_FIELD_INSTRUMENT) == INST);
  CHECK(field_u64(cert, KBK_FIELD_HOLDER) == INV0);
  CHECK(field_u64(cert, KBK_FIELD_QUANTITY) == 1000);
  CHECK(field_u64(cert, KBK_FIELD_CLASS) == 0);
  CHECK(field_u64(cert, KBK_FIELD_RESTRICTION) == KBK_RESTRICTION_FREE);
  CHECK(field_u64(cert, KBK_FIELD_PAR_VALUE) == 50);
  CHECK(field_u64(cert, KBK_FIELD_COMPANY_FOUNDED) == 19500101);
  CHECK(field_u64(cert, KBK_FIELD_SIGNATURE_ALGORITHM) == 1);
  CHECK(field_u64(cert, KBK_FIELD_EXPIRY) > w.now);
  CHECK(field_u64(cert, KBK_FIELD_CERTIFICATE_NUMBER) >= 1);
  CHECK_OK(kbk_message_get_string(cert, KBK_FIELD_COMPANY_NAME, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "Kabu KK") == 0);
  CHECK_OK(kbk_message_get_string(cert, KBK_FIELD_REGISTER_NAME, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "Test Transfer Agent") == 0);
  CHECK_OK(kbk_message_get_string(cert, KBK_FIELD_HOLDER_NAME, 0, text, sizeof text, &n));
  CHECK(strcmp(text, "Investor, Tokyo") == 0);
  CHECK_OK(kbk_message_field_count(cert, KBK_FIELD_LOCKED_UNTIL, &n));
  CHECK(n == 0);
  kbk_cert_id id1 = id_of(cert);
  CHECK(id1.serial < 1024);

  /* the register keeps the same certificate; bytes in and out */
  kbk_message *kept = NULL;
  CHECK_OK(kbk_register_certificate(w.reg, &id1, &kept));
  CHECK_OK(kbk_message_digest(cert, d1));
  CHECK_OK(kbk_message_digest(kept, d2));
  CHECK(memcmp(d1, d2, 32) == 0);
  kbk_message_free(kept);
  size_t clen = 0;
  uint8_t *cb = wire(cert, &clen);
  CHECK_OK(kbk_message_decode(cb, clen, &kept));
  CHECK_OK(kbk_message_digest(kept, d2));
  CHECK(memcmp(d1, d2, 32) == 0);
  kbk_message_free(kept);
  CHECK_OK(kbk_register_is_current(w.reg, &id1, &v));
  CHECK(v == 1);
  CHECK_OK(kbk_register_issued(w.reg, INST, &u));
  CHECK(u == 1000);
  CHECK_STATUS(kbk_register_issued(w.reg, 99, &u), KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT);
  kbk_cert_id forged = id1;
  forged.tag[0] ^= 1;
  CHECK_STATUS(kbk_register_certificate(w.reg, &forged, &kept), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_register_is_current(w.reg, &forged, &v), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_register_certificate(w.reg, NULL, &kept), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_register_certificate(w.reg, &id1, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* the ID list: snapshot into a follower */
  kbk_id_list *list = NULL;
  kbk_message *snap = NULL;
  CHECK_OK(kbk_id_list_new(INST, REG_ID, rpk, &list));
  CHECK_STATUS(kbk_id_list_seq(list, &u), KBK_STATUS_NOT_FOUND);
  CHECK_OK(kbk_register_id_list_snapshot(w.reg, INST, &snap));
  CHECK(walk(snap) == 4);
  CHECK_OK(kbk_message_field_count(snap, KBK_FIELD_CERT_IDS, &n));
  CHECK(n == 1);
  CHECK_OK(kbk_message_get_u64(snap, KBK_FIELD_HOLDERS, 0, &u));
  CHECK(u == INV0);
  size_t slen = 0;
  uint8_t *sb = wire(snap, &slen);
  /* a delta before any snapshot is refused */
  kbk_message *d0 = NULL;
  CHECK_OK(kbk_register_id_list_delta(w.reg, INST, 0, &d0));
  size_t d0len = 0;
  uint8_t *d0b = wire(d0, &d0len);
  CHECK_STATUS(kbk_id_list_apply_delta(list, d0b, d0len, &v), KBK_STATUS_ID_LIST_REFUSED);
  CHECK_OK(kbk_id_list_apply_snapshot(list, sb, slen));
  CHECK(contains(list, id1, INV0) == 1);
  CHECK(contains(list, id1, INV0 + 1) == 0);
  CHECK_OK(kbk_id_list_len(list, &n));
  CHECK(n == 1);
  CHECK_STATUS(kbk_id_list_apply_snapshot(list, d0b, d0len), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_id_list_apply_snapshot(list, sb, slen - 1), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_id_list_apply_delta(list, d0b, d0len, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_id_list_contains(list, NULL, INV0, &v), KBK_STATUS_NULL_ARGUMENT);
  /* a follower of another instrument, or with another register key */
  kbk_id_list *other = NULL;
  CHECK_OK(kbk_id_list_new(INST + 1, REG_ID, rpk, &other));
  CHECK_STATUS(kbk_id_list_apply_snapshot(other, sb, slen), KBK_STATUS_ID_LIST_REFUSED);
  kbk_id_list_free(other);
  CHECK_OK(kbk_id_list_new(INST, REG_ID, w.trust.ca_key, &other));
  CHECK_STATUS(kbk_id_list_apply_snapshot(other, sb, slen), KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  kbk_id_list_free(other);
  CHECK_STATUS(kbk_id_list_new(INST, REG_ID, weak, &other), KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_STATUS(kbk_id_list_new(INST, REG_ID, rpk, NULL), KBK_STATUS_NULL_ARGUMENT);
  free(d0b);
  kbk_message_free(d0);
  free(sb);
  kbk_message_free(snap);

  /* phase 5: direct transfer of the whole certificate to investor 1 */
  kbk_message *endo = NULL, *req = NULL, *resp = NULL;
  CHECK_OK(kbk_endorse(w.inv[0], cert, INV0 + 1, 77, &endo));
  CHECK(field_u64(endo, KBK_FIELD_RECIPIENT) == INV0 + 1);
  CHECK(field_u64(endo, KBK_FIELD_NONCE) == 77);
  CHECK_OK(kbk_message_get_bytes(endo, KBK_FIELD_CERTIFICATE_HASH, 0, d2, sizeof d2, &n));
  CHECK(n == 32 && memcmp(d1, d2, 32) == 0);
  /* the recipient's offline checks */
  uint8_t hk[32], bk[32];
  CHECK_OK(kbk_keypair_public_key(w.inv[0], hk));
  CHECK_OK(kbk_keypair_public_key(w.inv[1], bk));
  CHECK_OK(kbk_certificate_verify(cert, REG_ID, rpk));
  CHECK_STATUS(kbk_certificate_verify(cert, REG_ID + 1, rpk), KBK_STATUS_CERT_INVALID);
  CHECK_STATUS(kbk_certificate_verify(cert, REG_ID, hk), KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  CHECK_STATUS(kbk_certificate_verify(endo, REG_ID, rpk), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_certificate_verify(NULL, REG_ID, rpk), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_certificate_verify(cert, REG_ID, weak), KBK_STATUS_CRYPTO_WEAK_KEY);
  CHECK_OK(kbk_endorsement_verify(cert, endo, INV0 + 1, REG_ID, rpk, hk, w.now));
  CHECK_STATUS(kbk_endorsement_verify(cert, endo, INV0 + 2, REG_ID, rpk, hk, w.now),
               KBK_STATUS_CERT_INVALID);
  CHECK_STATUS(kbk_endorsement_verify(cert, endo, INV0 + 1, REG_ID, rpk, bk, w.now),
               KBK_STATUS_CRYPTO_BAD_SIGNATURE);
  CHECK_STATUS(kbk_endorsement_verify(cert, endo, INV0 + 1, REG_ID, rpk, hk, UINT64_MAX),
               KBK_STATUS_CERT_INVALID); /* expired by then */
  CHECK_STATUS(kbk_endorsement_verify(endo, cert, INV0 + 1, REG_ID, rpk, hk, w.now),
               KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_endorsement_verify(cert, endo, INV0 + 1, REG_ID, rpk, NULL, w.now),
               KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_sign_direct_transfer(w.inv[1], INV0 + 1, "Bob, Osaka", cert, endo, ++w.seq[1],
                                    &req));
  kbk_message *nested = NULL;
  CHECK_OK(kbk_message_get_message(req, KBK_FIELD_CERTIFICATE, 0, &nested));
  CHECK_OK(kbk_message_digest(nested, d2));
  CHECK(memcmp(d1, d2, 32) == 0);
  kbk_message_free(nested);
  CHECK_OK(kbk_message_get_message(req, KBK_FIELD_ENDORSEMENT, 0, &nested));
  CHECK_OK(kbk_message_kind(nested, &kind));
  CHECK(kind == KBK_KIND_ENDORSEMENT);
  kbk_message_free(nested);
  CHECK_OK(run(&w, kbk_register_direct_transfer, req, &resp));
  uint64_t transfer = field_u64(resp, KBK_FIELD_TRANSFER_NUMBER);
  CHECK(transfer == 1);
  kbk_cert_id newid;
  CHECK_OK(kbk_message_get_cert_id(resp, KBK_FIELD_NEW_CERT_ID, 0, &newid));
  CHECK_OK(kbk_message_field_count(resp, KBK_FIELD_CHANGE_CERT_ID, &n));
  CHECK(n == 0);
  kbk_message_free(resp);
  CHECK_OK(kbk_register_transfer_count(w.reg, &u));
  CHECK(u == 1);
  kbk_transfer_record tr;
  CHECK_OK(kbk_register_transfer_record(w.reg, transfer, &tr));
  CHECK(tr.transfer_number == 1 && tr.quantity == 1000 && tr.buyer == INV0 + 1);
  CHECK(tr.seller == INV0 && tr.old_cert_id.serial == id1.serial && tr.has_change == 0);
  CHECK(tr.new_cert_id.serial == newid.serial && tr.buyer_claimed == 0 && tr.instrument == INST);
  CHECK_STATUS(kbk_register_transfer_record(w.reg, 0, &tr), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_register_transfer_record(w.reg, 2, &tr), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_register_transfer_record(w.reg, 1, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_register_is_current(w.reg, &id1, &v));
  CHECK(v == 0);
  /* the same endorsed certificate again: its ID is spent */
  CHECK_OK(kbk_sign_direct_transfer(w.inv[1], INV0 + 1, "Bob", cert, endo, ++w.seq[1], &req));
  CHECK_STATUS(run(&w, kbk_register_direct_transfer, req, &resp), KBK_STATUS_REGISTER_NOT_LIVE);
  kbk_message_free(endo);

  /* phase 4: the recipient claims the new certificate, once */
  CHECK(claim(&w, 2, transfer, KBK_STATUS_REGISTER_NOT_YOUR_TRANSFER) == NULL);
  CHECK(claim(&w, 1, 99, KBK_STATUS_REGISTER_UNKNOWN_TRANSFER) == NULL);
  kbk_message *cert2 = claim(&w, 1, transfer, KBK_STATUS_OK);
  CHECK(cert2 != NULL);
  CHECK(field_u64(cert2, KBK_FIELD_HOLDER) == INV0 + 1);
  CHECK(field_u64(cert2, KBK_FIELD_QUANTITY) == 1000);
  kbk_cert_id id2 = id_of(cert2);
  CHECK(id2.serial == newid.serial && memcmp(id2.tag, newid.tag, 16) == 0);
  CHECK(claim(&w, 1, transfer, KBK_STATUS_REGISTER_ALREADY_CLAIMED) == NULL);
  CHECK_OK(kbk_register_transfer_record(w.reg, transfer, &tr));
  CHECK(tr.buyer_claimed == 1);

  /* the follower sees the change */
  CHECK(follow(&w, list) >= 1);
  CHECK(contains(list, id1, INV0) == 0);
  CHECK(contains(list, id2, INV0 + 1) == 1);

  /* phase 6: split 1000 into 400 + 600, merge them back, then lost */
  uint64_t parts[2] = {400, 600};
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_SPLIT, &id2, 1, parts, 2,
                            ++w.seq[1], &req));
  CHECK_OK(run(&w, kbk_register_reissue, req, &resp));
  CHECK_OK(kbk_message_field_count(resp, KBK_FIELD_RETIRED, &n));
  CHECK(n == 1);
  CHECK_OK(kbk_message_field_count(resp, KBK_FIELD_CERTIFICATES, &n));
  CHECK(n == 2);
  kbk_cert_id halves[2];
  for (size_t i = 0; i < 2; i++) {
    kbk_message *c = NULL;
    CHECK_OK(kbk_message_get_message(resp, KBK_FIELD_CERTIFICATES, i, &c));
    CHECK(field_u64(c, KBK_FIELD_QUANTITY) == parts[i]);
    CHECK(field_u64(c, KBK_FIELD_HOLDER) == INV0 + 1);
    halves[i] = id_of(c);
    kbk_message_free(c);
  }
  CHECK_STATUS(kbk_message_get_message(resp, KBK_FIELD_CERTIFICATES, 2, &nested),
               KBK_STATUS_MESSAGE_NO_FIELD);
  kbk_message_free(resp);
  /* splitting the retired certificate again is refused */
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_SPLIT, &id2, 1, parts, 2,
                            ++w.seq[1], &req));
  CHECK_STATUS(run(&w, kbk_register_reissue, req, &resp), KBK_STATUS_REGISTER_NOT_LIVE);
  /* parts that do not add up */
  uint64_t bad_parts[2] = {100, 100};
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_SPLIT, &halves[0], 1,
                            bad_parts, 2, ++w.seq[1], &req));
  kbk_status s = run(&w, kbk_register_reissue, req, &resp);
  CHECK(s == KBK_STATUS_REGISTER_QUANTITY_MISMATCH || s == KBK_STATUS_REGISTER_BAD_REISSUE);
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_MERGE, halves, 2, NULL, 0,
                            ++w.seq[1], &req));
  CHECK_OK(run(&w, kbk_register_reissue, req, &resp));
  kbk_message *merged = NULL;
  CHECK_OK(kbk_message_get_message(resp, KBK_FIELD_CERTIFICATES, 0, &merged));
  CHECK(field_u64(merged, KBK_FIELD_QUANTITY) == 1000);
  kbk_cert_id mid = id_of(merged);
  kbk_message_free(merged);
  kbk_message_free(resp);
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_LOST, &mid, 1, NULL, 0,
                            ++w.seq[1], &req));
  CHECK_OK(run(&w, kbk_register_reissue, req, &resp));
  kbk_cert_id retired;
  CHECK_OK(kbk_message_get_cert_id(resp, KBK_FIELD_RETIRED, 0, &retired));
  CHECK(retired.serial == mid.serial);
  kbk_message_free(resp);
  /* a forged ID */
  kbk_cert_id fake = mid;
  fake.tag[3] ^= 0x80;
  CHECK_OK(kbk_sign_reissue(w.inv[1], INV0 + 1, INST, KBK_REISSUE_LOST, &fake, 1, NULL, 0,
                            ++w.seq[1], &req));
  CHECK_STATUS(run(&w, kbk_register_reissue, req, &resp), KBK_STATUS_REGISTER_FORGED_ID);
  CHECK(follow(&w, list) >= 3);
  CHECK(contains(list, mid, INV0 + 1) == 0);
  CHECK_OK(kbk_id_list_len(list, &n));
  CHECK(n == 1);

  /* phase 6: holdings inquiry */
  CHECK_OK(kbk_sign_holdings_inquiry(w.inv[1], INV0 + 1, 1, INST, ++w.seq[1], &req));
  CHECK_OK(kbk_message_digest(req, d1));
  CHECK_OK(run(&w, kbk_register_holdings, req, &resp));
  CHECK_OK(kbk_message_field_count(resp, KBK_FIELD_HOLDING_SHARES, &n));
  CHECK(n == 1);
  CHECK_OK(kbk_message_get_u64(resp, KBK_FIELD_HOLDING_SHARES, 0, &u));
  CHECK(u == 1000);
  CHECK_OK(kbk_message_get_bytes(resp, KBK_FIELD_REQUEST_HASH, 0, d2, sizeof d2, &n));
  CHECK(memcmp(d1, d2, 32) == 0);
  kbk_message_free(resp);

  /* refusals */
  CHECK_OK(kbk_sign_holdings_inquiry(w.inv[1], INV0 + 1, 0, 0, w.seq[1], &req));
  CHECK_STATUS(run(&w, kbk_register_holdings, req, &resp), KBK_STATUS_REGISTER_REPLAY);
  kbk_issue_request ir;
  memset(&ir, 0, sizeof ir);
  ir.user_id = INV0 + 2;
  ir.quantity = 10;
  ir.seq = ++w.seq[2];
  ir.name_address = "C";
  ir.dividend_account = "d";
  ir.instrument = INST;
  ir.quantity = 200000; /* above the policy's per-order maximum */
  CHECK_OK(kbk_sign_issue(w.inv[2], &ir, &req));
  CHECK_STATUS(run(&w, kbk_register_issue, req, &resp), KBK_STATUS_IDENTITY_POLICY_VIOLATION);
  ir.quantity = 2000000; /* above the authorized shares too */
  ir.seq = ++w.seq[2];
  CHECK_OK(kbk_sign_issue(w.inv[2], &ir, &req));
  s = run(&w, kbk_register_issue, req, &resp);
  CHECK(s == KBK_STATUS_IDENTITY_POLICY_VIOLATION || s == KBK_STATUS_REGISTER_EXCEEDS_AUTHORIZED);
  ir.quantity = 10;
  ir.seq = ++w.seq[2];
  ir.instrument = 99;
  CHECK_OK(kbk_sign_issue(w.inv[2], &ir, &req));
  CHECK_STATUS(run(&w, kbk_register_issue, req, &resp), KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT);
  /* signed by someone else for investor 2: the signer is not the user */
  ir.instrument = INST;
  ir.seq = ++w.seq[2];
  CHECK_OK(kbk_sign_issue(w.inv[1], &ir, &req));
  s = run(&w, kbk_register_issue, req, &resp);
  CHECK(s == KBK_STATUS_CRYPTO_BAD_SIGNATURE || s == KBK_STATUS_IDENTITY_USER_ID_MISMATCH);
  /* a revoked investor */
  kbk_keypair *k9 = key_from(99);
  kbk_message *att = attest(&w, INV0 + 9, k9, KBK_ROLE_INVESTOR, 1000);
  uint64_t serial = field_u64(att, KBK_FIELD_SERIAL);
  kbk_message *rev = NULL;
  CHECK_OK(kbk_ca_revoke(w.ca, &serial, 1, w.now, &rev));
  size_t rl = 0;
  uint8_t *rb = wire(rev, &rl);
  CHECK_OK(kbk_register_revoke(w.reg, rb, rl));
  ir.user_id = INV0 + 9;
  ir.seq = 1;
  CHECK_OK(kbk_sign_issue(k9, &ir, &req));
  CHECK_STATUS(run(&w, kbk_register_issue, req, &resp), KBK_STATUS_IDENTITY_REVOKED);
  CHECK_STATUS(kbk_register_revoke(w.reg, rb, rl - 1), KBK_STATUS_WIRE_MALFORMED);
  CHECK_STATUS(kbk_register_add_attestation(w.reg, rb, rl), KBK_STATUS_WIRE_WRONG_KIND);
  CHECK_STATUS(kbk_register_add_attestation(w.reg, NULL, 3), KBK_STATUS_NULL_ARGUMENT);
  free(rb);
  kbk_message_free(rev);
  kbk_message_free(att);
  kbk_keypair_free(k9);
  /* wrong kinds and malformed bytes for every phase */
  phase_fn phases[6] = {kbk_register_issue,     kbk_register_transfer,
                        kbk_register_claim_certificate, kbk_register_direct_transfer,
                        kbk_register_holdings,  kbk_register_reissue};
  for (int i = 0; i < 6; i++) {
    kbk_message *out = NULL;
    CHECK_STATUS(phases[i](w.reg, cb, clen, w.now, &out), KBK_STATUS_WIRE_WRONG_KIND);
    CHECK_STATUS(phases[i](w.reg, cb, 1, w.now, &out), KBK_STATUS_WIRE_MALFORMED);
    CHECK_STATUS(phases[i](w.reg, NULL, clen, w.now, &out), KBK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(phases[i](w.reg, cb, clen, w.now, NULL), KBK_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(phases[i](NULL, cb, clen, w.now, &out), KBK_STATUS_NULL_ARGUMENT);
    CHECK(out == NULL);
  }
  CHECK_STATUS(kbk_register_id_list_snapshot(w.reg, 99, &snap),
               KBK_STATUS_REGISTER_UNKNOWN_INSTRUMENT);
  CHECK_STATUS(kbk_register_id_list_delta(w.reg, INST, 1000, &snap), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_register_id_list_snapshot(w.reg, INST, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* configuration errors */
  kbk_register_instrument ri;
  memset(&ri, 0, sizeof ri);
  ri.instrument = 8;
  ri.company_name = "X";
  ri.conditions = "c";
  ri.restriction = 3;
  CHECK_STATUS(kbk_register_add_instrument(w.reg, &ri), KBK_STATUS_INVALID_ARGUMENT);
  ri.restriction = KBK_RESTRICTION_LOCKED_UNTIL;
  ri.company_name = bad_utf8;
  CHECK_STATUS(kbk_register_add_instrument(w.reg, &ri), KBK_STATUS_INVALID_UTF8);
  ri.company_name = NULL;
  CHECK_STATUS(kbk_register_add_instrument(w.reg, &ri), KBK_STATUS_NULL_ARGUMENT);
  char longname[300];
  memset(longname, 'k', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  ri.company_name = longname;
  CHECK_STATUS(kbk_register_add_instrument(w.reg, &ri), KBK_STATUS_REGISTER_TEXT_TOO_LONG);
  CHECK_STATUS(kbk_register_add_instrument(w.reg, NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_register_config rc;
  memset(&rc, 0, sizeof rc);
  rc.user_id = 5;
  rc.name = "R";
  rc.address = "A";
  rc.id_capacity = 0;
  kbk_register *r2 = NULL;
  CHECK_STATUS(kbk_register_new(&rc, w.reg_key, &w.trust, &r2), KBK_STATUS_INVALID_ARGUMENT);
  rc.id_capacity = 16;
  rc.address = NULL;
  CHECK_STATUS(kbk_register_new(&rc, w.reg_key, &w.trust, &r2), KBK_STATUS_NULL_ARGUMENT);
  rc.address = "A";
  CHECK_STATUS(kbk_register_new(&rc, NULL, &w.trust, &r2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_register_new(&rc, w.reg_key, NULL, &r2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_register_new(NULL, w.reg_key, &w.trust, &r2), KBK_STATUS_NULL_ARGUMENT);
  CHECK(r2 == NULL);
  CHECK_OK(kbk_register_new(&rc, w.reg_key, &w.trust, &r2));
  /* a handle of another type */
  CHECK_STATUS(kbk_register_audit((kbk_register *)w.ledger), KBK_STATUS_INVALID_HANDLE);
  kbk_register_free(r2);
  kbk_register_free(NULL);
  kbk_id_list_free(NULL);

  CHECK_OK(kbk_register_audit(w.reg));
  CHECK_OK(kbk_register_transfer_count(w.reg, &u));
  CHECK(u == 1);
  CHECK_STATUS(kbk_register_transfer_count(w.reg, NULL), KBK_STATUS_NULL_ARGUMENT);
  free(cb);
  kbk_message_free(cert);
  kbk_message_free(cert2);
  kbk_id_list_free(list);
  world_free(&w);
  return check_done("test_register");
}
