/* C ABI overhead benchmark (run by ffi/bench/run.sh).
 *
 * 1. Per call: the add/cancel sequence of ffi/examples/abi_overhead.rs
 *    (same generator, a warm 10k-order book), through kbk_book_submit /
 *    kbk_book_cancel with no event callback (median of runs).
 * 2. Batch: a Flash workload (decompressed .bin) converted once to
 *    kbk_command records and replayed with kbk_book_apply_batch_events into
 *    a 4096-event array, and with kbk_book_apply_batch and a callback,
 *    events counted by kind (the Rust replay counts its reports likewise).
 *
 * Usage: book_bench N RUNS [workload.bin] */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kabuken.h"

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static void die(const char *what, kbk_status s) {
  fprintf(stderr, "%s: %s\n", what, kbk_status_message(s));
  exit(1);
}

/* Adds n passive orders to a book already holding n, then cancels them in
 * random order, ROUNDS times per run: the shape of abi_overhead.rs and the
 * criterion book/add and book/cancel benches (a warm 10k-order book). */
static void per_call(size_t n, int runs) {
  enum { ROUNDS = 100 };
  uint64_t st = 0x2545f4914f6cdd1dull;
  kbk_order *orders = calloc(2 * n, sizeof *orders);
  uint64_t *cancel = malloc(n * sizeof *cancel);
  if (!orders || !cancel) exit(1);
  for (size_t i = 0; i < 2 * n; i++) {
    uint64_t r = xorshift(&st);
    int buy = (r & 1) == 0;
    orders[i].id = i + 1;
    orders[i].side = buy ? KBK_SIDE_BUY : KBK_SIDE_SELL;
    orders[i].price = (int64_t)(buy ? 1000 + (r >> 8) % 1000 : 3000 + (r >> 8) % 1000);
    orders[i].qty = 1 + (r >> 32) % 100;
    orders[i].order_type = KBK_ORDER_LIMIT;
    orders[i].tif = KBK_TIF_GTC;
  }
  for (size_t i = 0; i < n; i++) cancel[i] = n + i + 1;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(xorshift(&st) % (i + 1));
    uint64_t t = cancel[i];
    cancel[i] = cancel[j];
    cancel[j] = t;
  }
  double adds[64], cancels[64];
  for (int r = 0; r < runs; r++) {
    kbk_book *b = NULL;
    kbk_status s = kbk_book_new(NULL, &b);
    if (s) die("kbk_book_new", s);
    for (size_t i = 0; i < n; i++)
      if ((s = kbk_book_submit(b, &orders[i]))) die("submit", s);
    double ta = 0, tc = 0;
    for (int k = 0; k < ROUNDS; k++) {
      double t0 = now_ns();
      for (size_t i = n; i < 2 * n; i++)
        if ((s = kbk_book_submit(b, &orders[i]))) die("submit", s);
      double t1 = now_ns();
      for (size_t i = 0; i < n; i++)
        if ((s = kbk_book_cancel(b, cancel[i]))) die("cancel", s);
      double t2 = now_ns();
      ta += t1 - t0;
      tc += t2 - t1;
    }
    adds[r] = ta / (double)(n * ROUNDS);
    cancels[r] = tc / (double)(n * ROUNDS);
    kbk_book_free(b);
  }
  printf("c per-call ns, %zu-order book (median of %d): add %.1f cancel %.1f\n", n, runs,
         median(adds, runs), median(cancels, runs));
  free(orders);
  free(cancel);
}

static void count_event(void *ud, const kbk_event *e) { ((uint64_t *)ud)[e->kind & 7]++; }

static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void batch(const char *path, int runs) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  unsigned char hdr[16];
  if (fread(hdr, 1, 16, f) != 16 || memcmp(hdr, "100_WBEM", 8) != 0) exit(1);
  size_t n = rd32(hdr + 12);
  unsigned char *body = malloc(n * 40);
  kbk_command *cmds = calloc(n, sizeof *cmds);
  if (!body || !cmds || fread(body, 40, n, f) != n) exit(1);
  fclose(f);
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = body + 40 * i;
    kbk_command *c = &cmds[i];
    c->id = rd64(r + 16);
    c->price = (int64_t)rd64(r + 24);
    c->qty = rd32(r + 4);
    c->side = r[1];
    c->kind = r[0] == 0 ? KBK_CMD_NEW : r[0] == 1 ? KBK_CMD_CANCEL : KBK_CMD_MODIFY;
    c->tif = r[2] ? KBK_TIF_IOC : KBK_TIF_GTC;
  }
  free(body);
  enum { CAP = 4096 };
  kbk_event *ev = malloc(CAP * sizeof *ev);
  double secs[64];
  uint64_t by_kind[8] = {0}, qty = 0;
  for (int r = 0; r < runs; r++) {
    memset(by_kind, 0, sizeof by_kind);
    kbk_book_config cfg;
    kbk_book_config_flash(&cfg);
    kbk_book *b = NULL;
    double t0 = now_ns(); /* like the Rust replay: the book is made inside */
    kbk_status s = kbk_book_new(&cfg, &b);
    if (s) die("kbk_book_new", s);
    kbk_book_reserve(b, 1 << 16);
    size_t done = 0;
    for (;;) {
      size_t applied = 0, nev = 0;
      s = kbk_book_apply_batch_events(b, cmds + done, n - done, ev, CAP, &applied, &nev);
      if (s) die("batch", s);
      for (size_t i = 0; i < nev; i++) {
        by_kind[ev[i].kind & 7]++;
        qty += ev[i].qty;
      }
      done += applied;
      if (done == n) {
        size_t pending = 0;
        kbk_book_pending_events(b, &pending);
        if (pending == 0) break;
      }
    }
    secs[r] = (now_ns() - t0) / 1e9;
    kbk_book_free(b);
  }
  double m = median(secs, runs);
  double cbsecs[64];
  uint64_t cb_kind[8];
  for (int r = 0; r < runs; r++) {
    memset(cb_kind, 0, sizeof cb_kind);
    kbk_book_config cfg;
    kbk_book_config_flash(&cfg);
    kbk_book *b = NULL;
    double t0 = now_ns();
    kbk_status s = kbk_book_new(&cfg, &b);
    if (s) die("kbk_book_new", s);
    kbk_book_reserve(b, 1 << 16);
    kbk_book_set_event_callback(b, count_event, cb_kind);
    if ((s = kbk_book_apply_batch(b, cmds, n))) die("batch", s);
    cbsecs[r] = (now_ns() - t0) / 1e9;
    kbk_book_free(b);
  }
  double mc = median(cbsecs, runs);
  printf("c batch (callback) messages=%zu seconds=%.4f msgs_per_s=%.0f (%llu trades)\n", n, mc,
         (double)n / mc, (unsigned long long)cb_kind[KBK_EVENT_TRADE]);
  printf("c batch (array) messages=%zu seconds=%.4f msgs_per_s=%.0f (last run: %llu trades, %llu events, qty sum %llu)\n",
         n, m, (double)n / m, (unsigned long long)by_kind[KBK_EVENT_TRADE],
         (unsigned long long)(by_kind[0] + by_kind[1] + by_kind[2] + by_kind[3] + by_kind[4] +
                              by_kind[5]),
         (unsigned long long)qty);
  free(ev);
  free(cmds);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000;
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  if (runs < 1 || runs > 64 || n < 2) return 2;
  per_call(n, runs);
  if (argc > 3) batch(argv[3], runs);
  return 0;
}
