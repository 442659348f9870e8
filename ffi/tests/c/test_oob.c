/* Out-of-band verification through the C ABI: contractors, sessions,
 * requests, confirmations (normal, duress, cancel, wrong, lockout, expiry),
 * the channel/alarm/forward/biometric/random callbacks, and bad input. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include "check.h"

typedef struct {
  int holds, forwards, releases, alarms, deliveries, lockout_notices, random_calls;
  uint32_t last_release;
  uint64_t last_ref;
  char code[32], cancel_code[32], short_text[256];
  uint8_t digest[32];
  int fail_delivery;
} host;

static void on_hold(void *ud, const kbk_oob_request *r) {
  host *h = (host *)ud;
  h->holds++;
  h->last_ref = r->request_ref;
}
static void on_forward(void *ud, const kbk_oob_request *r) {
  (void)r;
  ((host *)ud)->forwards++;
}
static void on_release(void *ud, const kbk_oob_request *r, uint32_t reason) {
  (void)r;
  host *h = (host *)ud;
  h->releases++;
  h->last_release = reason;
}
static int32_t on_deliver(void *ud, const kbk_oob_device *d, const kbk_oob_notice *n) {
  host *h = (host *)ud;
  CHECK(d->address != NULL && strlen(d->address) > 0);
  if (h->fail_delivery) return 1;
  h->deliveries++;
  if (n->kind == KBK_OOB_NOTICE_CONFIRMATION) {
    const kbk_oob_confirmation *c = n->confirmation;
    CHECK(c != NULL && strlen(c->code) == 8);
    strncpy(h->code, c->code, sizeof h->code - 1);
    strncpy(h->cancel_code, c->cancel_code, sizeof h->cancel_code - 1);
    strncpy(h->short_text, c->short_text, sizeof h->short_text - 1);
    CHECK(strstr(c->spoken_text, "To confirm") != NULL);
    memcpy(h->digest, c->tx_digest, 32);
  } else {
    CHECK(n->kind == KBK_OOB_NOTICE_LOCKED_OUT && n->confirmation == NULL);
    h->lockout_notices++;
  }
  return 0;
}
static void on_alarm(void *ud, const kbk_oob_duress *r) {
  host *h = (host *)ud;
  h->alarms++;
  CHECK(strcmp(r->user_code, "alice") == 0);
}
static int32_t on_bio(void *ud, uint32_t contractor, const uint8_t *challenge,
                      const uint8_t *sample, size_t len) {
  (void)ud;
  (void)contractor;
  (void)challenge;
  return len == 4 && memcmp(sample, "GOOD", 4) == 0;
}
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static int32_t on_random(void *ud, uint8_t *buf, size_t len) {
  ((host *)ud)->random_calls++;
  for (size_t i = 0; i < len; i++) { /* test-only generator (xorshift) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    buf[i] = (uint8_t)rng_state;
  }
  return 0;
}
static int32_t bad_random(void *ud, uint8_t *buf, size_t len) {
  (void)ud;
  (void)buf;
  (void)len;
  return 1;
}

static kbk_oob_hooks hooks_for(host *h) {
  kbk_oob_hooks k;
  memset(&k, 0, sizeof k);
  k.userdata = h;
  k.hold = on_hold;
  k.forward = on_forward;
  k.release = on_release;
  k.deliver = on_deliver;
  k.alarm = on_alarm;
  k.biometric = on_bio;
  k.random = on_random;
  return k;
}

static kbk_oob_config test_config(void) {
  uint8_t pepper[32];
  memset(pepper, 7, sizeof pepper);
  kbk_oob_config c;
  CHECK_OK(kbk_oob_config_default(pepper, &c));
  CHECK(c.code_digits == 8 && c.argon2_m_cost_kib == 19456);
  /* tests only: cheap argon2id */
  c.argon2_m_cost_kib = 8;
  c.argon2_t_cost = 1;
  c.argon2_p_cost = 1;
  return c;
}

static kbk_oob_device devices[2];
static kbk_oob_second_code codes[2];
static kbk_oob_method_row rows[3];

static kbk_oob_contractor_spec alice_spec(void) {
  memset(devices, 0, sizeof devices);
  devices[0].address = "+81-90-0000-0000";
  devices[0].kind = KBK_OOB_DEVICE_SMS;
  devices[1].address = "pager-17";
  devices[1].kind = KBK_OOB_DEVICE_PAGER;
  codes[0].code = "4711";
  codes[0].purpose = KBK_OOB_PURPOSE_NORMAL;
  codes[1].code = "1147";
  codes[1].purpose = KBK_OOB_PURPOSE_DURESS;
  rows[0].from = 0;
  rows[0].method = KBK_OOB_METHOD_CODE;
  rows[1].from = 10000000;
  rows[1].method = KBK_OOB_METHOD_BIOMETRIC;
  kbk_oob_contractor_spec s;
  memset(&s, 0, sizeof s);
  s.user_code = "alice";
  s.pin = "2468";
  s.devices = devices;
  s.devices_len = 2;
  s.second_codes = codes;
  s.second_codes_len = 2;
  s.methods = rows;
  s.methods_len = 2;
  s.threshold = 1000000;
  s.max_amount = 50000000;
  s.delivery = KBK_OOB_DELIVERY_BROADCAST;
  return s;
}

static kbk_oob_transaction tx(uint64_t amount) {
  kbk_oob_transaction t;
  memset(&t, 0, sizeof t);
  t.instrument = 7203;
  t.side = KBK_SIDE_BUY;
  t.quantity = 1000;
  t.has_limit = 1;
  t.limit = 2150;
  t.amount = amount;
  return t;
}

static kbk_oob_answer_params answer(const host *h, const char *code, const char *second) {
  kbk_oob_answer_params a;
  memset(&a, 0, sizeof a);
  a.user_code = "alice";
  a.request_ref = h->last_ref;
  a.code = code;
  a.second_code = second;
  memcpy(a.tx_digest, h->digest, 32);
  a.proof = KBK_OOB_PROOF_NONE;
  return a;
}

#define SEC 1000000000ull

/* kbk_oob is thread-safe: threads submit through one service at once. */
typedef struct {
  kbk_oob *o;
  kbk_oob_session s;
  int ok;
} worker_arg;

static void *worker(void *p) {
  worker_arg *w = (worker_arg *)p;
  for (int i = 0; i < 50; i++) {
    kbk_oob_transaction t;
    memset(&t, 0, sizeof t);
    t.instrument = 7203;
    t.side = KBK_SIDE_SELL;
    t.quantity = 1;
    t.amount = 1000;
    kbk_oob_submission sub;
    if (kbk_oob_submit(w->o, &w->s, &t, 1000 * SEC, &sub) == KBK_STATUS_OK &&
        sub.disposition == KBK_OOB_FORWARD_NOW)
      w->ok++;
  }
  return NULL;
}

int main(void) {
  host h;
  memset(&h, 0, sizeof h);
  kbk_oob_config cfg = test_config();
  kbk_oob_hooks hk = hooks_for(&h);
  kbk_oob *o = NULL;

  /* construction: bad config and hooks refused */
  CHECK_STATUS(kbk_oob_config_default(NULL, &cfg), KBK_STATUS_NULL_ARGUMENT);
  kbk_oob_config badc = cfg;
  badc.code_digits = 3;
  CHECK_STATUS(kbk_oob_new(&badc, &hk, &o), KBK_STATUS_OOB_INVALID_CONFIG);
  badc = cfg;
  badc.callback_lines_len = 2; /* with a NULL array */
  CHECK_STATUS(kbk_oob_new(&badc, &hk, &o), KBK_STATUS_NULL_ARGUMENT);
  kbk_oob_hooks badh = hk;
  badh.deliver = NULL;
  CHECK_STATUS(kbk_oob_new(&cfg, &badh, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_new(NULL, &hk, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_new(&cfg, NULL, &o), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_new(&cfg, &hk, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(o == NULL);
  CHECK_OK(kbk_oob_new(&cfg, &hk, &o));

  /* contractors */
  uint32_t id = 99;
  kbk_oob_contractor_spec s = alice_spec();
  kbk_oob_contractor_spec bad = s;
  bad.pin = "12"; /* too short */
  CHECK_STATUS(kbk_oob_register_contractor(o, &bad, 0, &id), KBK_STATUS_OOB_INVALID_RECORD);
  bad = s;
  bad.user_code = "\xff\xfe";
  CHECK_STATUS(kbk_oob_register_contractor(o, &bad, 0, &id), KBK_STATUS_INVALID_UTF8);
  bad = s;
  bad.delivery = 5;
  CHECK_STATUS(kbk_oob_register_contractor(o, &bad, 0, &id), KBK_STATUS_INVALID_ARGUMENT);
  bad = s;
  bad.devices = NULL;
  CHECK_STATUS(kbk_oob_register_contractor(o, &bad, 0, &id), KBK_STATUS_NULL_ARGUMENT);
  bad = s;
  bad.disabled = 2;
  CHECK_STATUS(kbk_oob_register_contractor(o, &bad, 0, &id), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_oob_register_contractor(o, NULL, 0, &id), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_register_contractor(o, &s, 0, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(id == 99);
  CHECK_OK(kbk_oob_register_contractor(o, &s, 0, &id));
  CHECK(id == 0);
  CHECK_STATUS(kbk_oob_register_contractor(o, &s, 0, &id), KBK_STATUS_OOB_DUPLICATE_USER_CODE);
  uint32_t found = 9;
  CHECK_OK(kbk_oob_contractor_id(o, "alice", &found));
  CHECK(found == 0);
  CHECK_STATUS(kbk_oob_contractor_id(o, "nobody", &found), KBK_STATUS_NOT_FOUND);
  CHECK_STATUS(kbk_oob_contractor_id(o, "\xc3\x28", &found), KBK_STATUS_INVALID_UTF8);
  CHECK_STATUS(kbk_oob_contractor_id(o, NULL, &found), KBK_STATUS_NULL_ARGUMENT);

  /* sessions */
  kbk_oob_session sess;
  CHECK_STATUS(kbk_oob_login(o, "alice", "0000", 0, &sess), KBK_STATUS_OOB_AUTHENTICATION_FAILED);
  CHECK_STATUS(kbk_oob_login(o, "alice", NULL, 0, &sess), KBK_STATUS_NULL_ARGUMENT);
  CHECK_OK(kbk_oob_login(o, "alice", "2468", 0, &sess));

  /* below the threshold: forward now, no hooks */
  kbk_oob_submission sub;
  kbk_oob_transaction small = tx(500000);
  CHECK_OK(kbk_oob_submit(o, &sess, &small, SEC, &sub));
  CHECK(sub.disposition == KBK_OOB_FORWARD_NOW && h.holds == 0);
  /* above the maximum */
  kbk_oob_transaction huge = tx(60000000);
  CHECK_STATUS(kbk_oob_submit(o, &sess, &huge, SEC, &sub), KBK_STATUS_OOB_ABOVE_MAXIMUM);
  kbk_oob_transaction badtx = tx(1);
  badtx.side = 4;
  CHECK_STATUS(kbk_oob_submit(o, &sess, &badtx, SEC, &sub), KBK_STATUS_INVALID_ARGUMENT);
  badtx = tx(1);
  badtx.has_limit = 3;
  CHECK_STATUS(kbk_oob_submit(o, &sess, &badtx, SEC, &sub), KBK_STATUS_INVALID_ARGUMENT);
  kbk_oob_session wrong = sess;
  wrong.secret[0] ^= 1;
  CHECK_STATUS(kbk_oob_submit(o, &wrong, &small, SEC, &sub), KBK_STATUS_OOB_INVALID_SESSION);

  /* 1. confirmed with the normal second code */
  kbk_oob_transaction big = tx(2150000);
  CHECK_OK(kbk_oob_submit(o, &sess, &big, SEC, &sub));
  CHECK(sub.disposition == KBK_OOB_HOLD_PENDING && sub.request.method == KBK_OOB_METHOD_CODE);
  CHECK(h.holds == 1 && h.deliveries == 2 && h.last_ref == sub.request.request_ref);
  CHECK(strstr(h.short_text, "BUY 7203") != NULL);
  uint8_t dg[32];
  CHECK_OK(kbk_oob_transaction_digest(&big, dg));
  CHECK(memcmp(dg, h.digest, 32) == 0 && memcmp(dg, sub.request.tx_digest, 32) == 0);
  size_t pending = 0;
  CHECK_OK(kbk_oob_pending_count(o, id, &pending));
  CHECK(pending == 1);
  kbk_oob_response resp;
  kbk_oob_answer_params a = answer(&h, h.code, "4711");
  CHECK_OK(kbk_oob_answer(o, &a, 2 * SEC, &resp));
  CHECK(resp.kind == KBK_OOB_RESPONSE_ACCEPTED && resp.request_ref == h.last_ref &&
        resp.encoded[0] == 1 && h.forwards == 1);
  kbk_oob_response again;
  CHECK_OK(kbk_oob_answer(o, &a, 3 * SEC, &again)); /* idempotent */
  CHECK(memcmp(&again, &resp, sizeof resp) == 0 && h.forwards == 1);

  /* 2. duress: looks exactly like a success; alarm raised, released */
  CHECK_OK(kbk_oob_submit(o, &sess, &big, 4 * SEC, &sub));
  a = answer(&h, h.code, "1147");
  kbk_oob_response dresp;
  CHECK_OK(kbk_oob_answer(o, &a, 5 * SEC, &dresp));
  CHECK(dresp.kind == KBK_OOB_RESPONSE_ACCEPTED && h.alarms == 1 &&
        h.last_release == KBK_OOB_RELEASE_DURESS && h.forwards == 1);

  /* 3. cancel code */
  CHECK_OK(kbk_oob_submit(o, &sess, &big, 6 * SEC, &sub));
  a = answer(&h, h.cancel_code, "4711");
  CHECK_OK(kbk_oob_answer(o, &a, 7 * SEC, &resp));
  CHECK(resp.kind == KBK_OOB_RESPONSE_CANCELLED && h.last_release == KBK_OOB_RELEASE_CANCELLED);

  /* bad answers: NULLs, invalid UTF-8, bad proof kind, bad flag */
  a = answer(&h, "00000000", "4711");
  a.code = NULL;
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, &resp), KBK_STATUS_NULL_ARGUMENT);
  a.code = "\xff";
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, &resp), KBK_STATUS_INVALID_UTF8);
  a.code = "1";
  a.proof = 9;
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, &resp), KBK_STATUS_INVALID_ARGUMENT);
  a.proof = KBK_OOB_PROOF_BIOMETRIC;
  a.biometric_len = 4; /* NULL sample */
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, &resp), KBK_STATUS_NULL_ARGUMENT);
  a.proof = 0;
  a.biometric_len = 0;
  a.has_line = 2;
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, &resp), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_oob_answer(o, NULL, 8 * SEC, &resp), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_answer(o, &a, 8 * SEC, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* 4. biometric method above 10,000,000 */
  kbk_oob_transaction bio = tx(20000000);
  CHECK_OK(kbk_oob_submit(o, &sess, &bio, 9 * SEC, &sub));
  CHECK(sub.request.method == KBK_OOB_METHOD_BIOMETRIC);
  uint8_t ch[32];
  CHECK_OK(kbk_oob_biometric_challenge(sub.request.request_ref, sub.request.tx_digest, ch));
  CHECK_STATUS(kbk_oob_biometric_challenge(1, NULL, ch), KBK_STATUS_NULL_ARGUMENT);
  a = answer(&h, h.code, "4711");
  a.proof = KBK_OOB_PROOF_BIOMETRIC;
  a.biometric_sample = (const uint8_t *)"GOOD";
  a.biometric_len = 4;
  CHECK_OK(kbk_oob_answer(o, &a, 10 * SEC, &resp));
  CHECK(resp.kind == KBK_OOB_RESPONSE_ACCEPTED && h.forwards == 2);

  /* 5. wrong answers: lockout, contractor disabled, holder notified */
  CHECK_OK(kbk_oob_submit(o, &sess, &big, 11 * SEC, &sub));
  a = answer(&h, "12345678", "4711");
  for (int i = 0; i < 5; i++)
    CHECK_STATUS(kbk_oob_answer(o, &a, 12 * SEC, &resp), KBK_STATUS_OOB_ANSWER_REJECTED);
  CHECK(h.last_release == KBK_OOB_RELEASE_LOCKED_OUT && h.lockout_notices >= 1);
  bool disabled = false;
  CHECK_OK(kbk_oob_is_disabled(o, id, &disabled));
  CHECK(disabled);
  CHECK_STATUS(kbk_oob_submit(o, &sess, &big, 13 * SEC, &sub), KBK_STATUS_OOB_CONTRACTOR_DISABLED);
  CHECK_OK(kbk_oob_enable_contractor(o, id, 14 * SEC));
  CHECK_OK(kbk_oob_is_disabled(o, id, &disabled));
  CHECK(!disabled);

  /* 6. expiry by sweep */
  CHECK_OK(kbk_oob_submit(o, &sess, &big, 15 * SEC, &sub));
  kbk_oob_sweep_report rep;
  CHECK_OK(kbk_oob_sweep(o, 15 * SEC + 301 * SEC, &rep));
  CHECK(rep.expired == 1 && h.last_release == KBK_OOB_RELEASE_EXPIRED);
  CHECK_STATUS(kbk_oob_sweep(o, 0, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* 7. operator disable releases pending requests */
  CHECK_OK(kbk_oob_login(o, "alice", "2468", 400 * SEC, &sess));
  CHECK_OK(kbk_oob_submit(o, &sess, &big, 400 * SEC, &sub));
  CHECK_OK(kbk_oob_disable_contractor(o, id, 401 * SEC));
  CHECK(h.last_release == KBK_OOB_RELEASE_DISABLED);
  CHECK_OK(kbk_oob_enable_contractor(o, id, 402 * SEC));
  CHECK_STATUS(kbk_oob_disable_contractor(o, 77, 0), KBK_STATUS_OOB_UNKNOWN_CONTRACTOR);
  CHECK_STATUS(kbk_oob_enable_contractor(o, 77, 0), KBK_STATUS_OOB_UNKNOWN_CONTRACTOR);
  CHECK_STATUS(kbk_oob_is_disabled(o, 77, &disabled), KBK_STATUS_OOB_UNKNOWN_CONTRACTOR);
  CHECK_STATUS(kbk_oob_pending_count(o, 77, &pending), KBK_STATUS_OOB_UNKNOWN_CONTRACTOR);
  CHECK_STATUS(kbk_oob_is_disabled(o, id, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* logout ends the session */
  CHECK_OK(kbk_oob_logout(o, &sess, 403 * SEC));
  CHECK_STATUS(kbk_oob_submit(o, &sess, &big, 404 * SEC, &sub), KBK_STATUS_OOB_INVALID_SESSION);
  CHECK_STATUS(kbk_oob_logout(o, NULL, 0), KBK_STATUS_NULL_ARGUMENT);

  /* stats and audit */
  kbk_oob_stats st;
  CHECK_OK(kbk_oob_get_stats(o, &st));
  CHECK(st.confirmed == 2 && st.duress == 1 && st.cancelled == 1 && st.locked_out == 1 &&
        st.expired == 1 && st.wrong_answers == 5);
  kbk_oob_audit_head head;
  CHECK_OK(kbk_oob_get_audit_head(o, &head));
  CHECK(head.count > 10);
  CHECK_OK(kbk_oob_verify_audit(o));
  CHECK_STATUS(kbk_oob_get_stats(o, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_get_audit_head(o, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK(h.random_calls > 0);

  /* seal message */
  uint8_t msg[128];
  size_t mlen = 0;
  CHECK_OK(kbk_oob_seal_message(5, dg, "12345678", msg, sizeof msg, &mlen));
  CHECK(mlen > 40);
  CHECK_STATUS(kbk_oob_seal_message(5, dg, "12345678", msg, 10, &mlen), KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(kbk_oob_seal_message(5, dg, NULL, msg, 10, &mlen), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_oob_transaction_digest(&badtx, dg), KBK_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(kbk_oob_transaction_digest(&big, NULL), KBK_STATUS_NULL_ARGUMENT);

  /* wrong handle types and NULL handles */
  CHECK_STATUS(kbk_oob_verify_audit(NULL), KBK_STATUS_NULL_ARGUMENT);
  kbk_book *b = NULL;
  CHECK_OK(kbk_book_new(NULL, &b));
  CHECK_STATUS(kbk_oob_verify_audit((const kbk_oob *)b), KBK_STATUS_INVALID_HANDLE);
  kbk_book_free(b);
  kbk_oob_free(o);
  kbk_oob_free(NULL);

  /* a failing random source: a status, never a crash */
  kbk_oob_hooks bh = hooks_for(&h);
  bh.random = bad_random;
  kbk_oob *o2 = NULL;
  CHECK_OK(kbk_oob_new(&cfg, &bh, &o2));
  kbk_oob_contractor_spec s2 = alice_spec();
  uint32_t id2 = 0;
  kbk_status rs = kbk_oob_register_contractor(o2, &s2, 0, &id2);
  CHECK(rs == KBK_STATUS_OK || rs == KBK_STATUS_OOB_RANDOMNESS_FAILURE);
  if (rs == KBK_STATUS_OK) {
    kbk_oob_session s3;
    kbk_status ls = kbk_oob_login(o2, "alice", "2468", 0, &s3);
    CHECK(ls == KBK_STATUS_OK || ls == KBK_STATUS_OOB_RANDOMNESS_FAILURE);
  }
  kbk_oob_free(o2);

  /* the OS random source (random hook NULL) and a failing channel */
  kbk_oob_hooks oh = hooks_for(&h);
  oh.random = NULL;
  oh.biometric = NULL;
  kbk_oob *o3 = NULL;
  CHECK_OK(kbk_oob_new(&cfg, &oh, &o3));
  CHECK_OK(kbk_oob_register_contractor(o3, &s2, 0, &id2));
  kbk_oob_session s4;
  CHECK_OK(kbk_oob_login(o3, "alice", "2468", 0, &s4));
  CHECK_STATUS(kbk_oob_submit(o3, &s4, &bio, SEC, &sub), KBK_STATUS_OOB_METHOD_UNAVAILABLE);
  h.fail_delivery = 1;
  kbk_status fs = kbk_oob_submit(o3, &s4, &big, SEC, &sub);
  CHECK(fs == KBK_STATUS_OK);
  h.fail_delivery = 0;

  /* four threads at once on the same service */
  kbk_oob_session s5;
  CHECK_OK(kbk_oob_login(o3, "alice", "2468", 1000 * SEC, &s5));
  pthread_t th[4];
  worker_arg wa[4];
  for (int i = 0; i < 4; i++) {
    wa[i].o = o3;
    wa[i].s = s5;
    wa[i].ok = 0;
    CHECK(pthread_create(&th[i], NULL, worker, &wa[i]) == 0);
  }
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    total += wa[i].ok;
  }
  CHECK(total == 200);
  kbk_oob_free(o3);

  return check_done("test_oob");
}
