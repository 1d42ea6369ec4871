/* The fused OPD step's row loop (opdcheck/kernels/numba_fused.py: _exp_dots over every row), hand-vectorised
 * with AVX2/FMA intrinsics, for benchmarks/bench_c_reference.py only: NOT part of the package.
 *
 * It answers one question: how close to the memory floor does THIS algorithm get on this machine when the
 * compiler is not Numba/LLVM? Same arithmetic per entry as the Numba loop: the logit as two chains of three
 * FMAs with the shift folded in (_logit6), kernels/fastexp.exp1 (clamp, Cody-Waite with fdlibm's ln2 split,
 * degree-11 polynomial as 1 + (r + r^2 q(r)) with q by Estrin, 2^k as two powers of two), and the five sums
 * (sum e, sum e R_1..R_4) in 4-lane accumulators. The sums of the lanes are combined in another order than
 * Numba's, so the results agree to rounding, not bit for bit (the script prints the agreement).
 * Built by the script with: gcc -O3 -march=native -ffp-contract=off -shared -fPIC (contraction only where
 * written, as in the Numba code).
 */
#include <immintrin.h>

static inline __m256d exp1_v(__m256d x) {
  x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-746.0)), _mm256_set1_pd(710.0));
  const __m256d rnd = _mm256_set1_pd(6755399441055744.0); /* 1.5 * 2^52 */
  __m256d t = _mm256_fmadd_pd(x, _mm256_set1_pd(1.4426950408889634), rnd);
  __m256d k = _mm256_sub_pd(t, rnd);
  __m256d r = _mm256_fnmadd_pd(k, _mm256_set1_pd(6.93147180369123816490e-01), x);
  r = _mm256_fnmadd_pd(k, _mm256_set1_pd(1.90821492927058770002e-10), r);
  __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2);
  __m256d a0 = _mm256_fmadd_pd(_mm256_set1_pd(0.1666666666666668), r, _mm256_set1_pd(0.5000000000000019));
  __m256d a1 = _mm256_fmadd_pd(_mm256_set1_pd(0.008333333333319589), r, _mm256_set1_pd(0.04166666666648795));
  __m256d a2 = _mm256_fmadd_pd(_mm256_set1_pd(0.00019841269890076403), r, _mm256_set1_pd(0.0013888888952352863));
  __m256d a3 = _mm256_fmadd_pd(_mm256_set1_pd(2.755724088722987e-06), r, _mm256_set1_pd(2.4801485441561313e-05));
  __m256d a4 = _mm256_fmadd_pd(_mm256_set1_pd(2.5110049204818658e-08), r, _mm256_set1_pd(2.763265472252779e-07));
  __m256d q = _mm256_fmadd_pd(_mm256_fmadd_pd(a4, r4, _mm256_fmadd_pd(a3, r2, a2)), r4, _mm256_fmadd_pd(a1, r2, a0));
  __m256d p = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_fmadd_pd(r2, q, r));
  __m256i s = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(0x4338000000000000LL - 2046));
  __m256i e1 = _mm256_srli_epi64(s, 1);
  __m256d f1 = _mm256_castsi256_pd(_mm256_slli_epi64(e1, 52));
  __m256d f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(s, e1), 52));
  return _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
}

static inline double hsum(__m256d v) {
  double t[4];
  _mm256_storeu_pd(t, v);
  return (t[0] + t[2]) + (t[1] + t[3]);
}

/* rows 0..X-1 of six (X, n) tables, row x at offset x * stride (stride 0: the same row X times, the arithmetic
 * without memory traffic); w = (k0..k5), m the shift; out[5x .. 5x+4] = (S, sum e A2, .., sum e A5).
 * n must be a multiple of 4 (the script checks). */
void fused_rows(const double *A0, const double *A1, const double *A2, const double *A3, const double *A4,
                const double *A5, long X, long n, long stride, const double *w, double m, double *out) {
  const __m256d k0 = _mm256_set1_pd(w[0]), k1 = _mm256_set1_pd(w[1]), k2 = _mm256_set1_pd(w[2]),
                k3 = _mm256_set1_pd(w[3]), k4 = _mm256_set1_pd(w[4]), k5 = _mm256_set1_pd(w[5]),
                mv = _mm256_set1_pd(m);
  for (long x = 0; x < X; x++) {
    const long o = x * stride;
    __m256d S = _mm256_setzero_pd(), d2 = S, d3 = S, d4 = S, d5 = S;
    for (long i = 0; i < n; i += 4) {
      const long j = o + i;
      __m256d a2 = _mm256_loadu_pd(A2 + j), a3 = _mm256_loadu_pd(A3 + j), a4 = _mm256_loadu_pd(A4 + j),
              a5 = _mm256_loadu_pd(A5 + j);
      __m256d c1 = _mm256_fmadd_pd(k0, _mm256_loadu_pd(A0 + j),
                                   _mm256_fmadd_pd(k1, _mm256_loadu_pd(A1 + j), _mm256_fmsub_pd(k2, a2, mv)));
      __m256d c2 = _mm256_fmadd_pd(k3, a3, _mm256_fmadd_pd(k4, a4, _mm256_mul_pd(k5, a5)));
      __m256d e = exp1_v(_mm256_add_pd(c1, c2));
      S = _mm256_add_pd(S, e);
      d2 = _mm256_fmadd_pd(e, a2, d2);
      d3 = _mm256_fmadd_pd(e, a3, d3);
      d4 = _mm256_fmadd_pd(e, a4, d4);
      d5 = _mm256_fmadd_pd(e, a5, d5);
    }
    out[5 * x] = hsum(S);
    out[5 * x + 1] = hsum(d2);
    out[5 * x + 2] = hsum(d3);
    out[5 * x + 3] = hsum(d4);
    out[5 * x + 4] = hsum(d5);
  }
}

/* ---- exp alone, for the script's exp rows: the polynomial above, and a table-driven exp with AVX2 gathers ----
 * table: x = (K / N) ln2 + r, K = rint(x N / ln2), |r| <= ln2 / (2N), N = 128; exp(x) = 2^(K div N) T[j] (1 + tail_j)
 * exp(r), j = K mod N, T[j] = 2^(j/N) rounded, tail_j = (2^(j/N) - T[j]) / T[j]; exp(r) - 1 by a degree-5 Taylor
 * polynomial (|r| <= 0.0028: error < 1e-19), combined as T + T (tail + r + r^2 c(r)), the scheme of glibc's exp
 * (Szabolcs Nagy), two 4-lane gathers per vector; 2^(K div N) as two powers of two, as above (subnormals). */
#include <math.h>
#define TABLE_N 128
static double table_T[TABLE_N], table_tail[TABLE_N];
static double ln2n_hi, ln2n_lo;

void table_init(void) {
  for (int j = 0; j < TABLE_N; j++) {
    long double v = powl(2.0L, (long double)j / TABLE_N);
    table_T[j] = (double)v;
    table_tail[j] = (double)((v - (long double)table_T[j]) / (long double)table_T[j]);
  }
  long double l = logl(2.0L) / TABLE_N;
  double hi = (double)l;
  /* keep 32 significant bits: K hi is exact for |K| < 2^21 */
  union { double d; unsigned long long u; } b = {hi};
  b.u &= ~((1ULL << 21) - 1);
  ln2n_hi = b.d;
  ln2n_lo = (double)(l - (long double)ln2n_hi);
}

static inline __m256d exp_table_v(__m256d x) {
  x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-746.0)), _mm256_set1_pd(710.0));
  const __m256d rnd = _mm256_set1_pd(6755399441055744.0);
  __m256d t = _mm256_fmadd_pd(x, _mm256_set1_pd(1.4426950408889634 * TABLE_N), rnd);
  __m256d kd = _mm256_sub_pd(t, rnd);
  __m256d r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(ln2n_hi), x);
  r = _mm256_fnmadd_pd(kd, _mm256_set1_pd(ln2n_lo), r);
  __m256i ki = _mm256_castpd_si256(t);
  __m256i idx = _mm256_and_si256(ki, _mm256_set1_epi64x(TABLE_N - 1));
  __m256d T = _mm256_i64gather_pd(table_T, idx, 8);
  __m256d tail = _mm256_i64gather_pd(table_tail, idx, 8);
  __m256d r2 = _mm256_mul_pd(r, r);
  __m256d c = _mm256_fmadd_pd(_mm256_fmadd_pd(_mm256_set1_pd(1.0 / 120), r, _mm256_set1_pd(1.0 / 24)), r2,
                              _mm256_fmadd_pd(_mm256_set1_pd(1.0 / 6), r, _mm256_set1_pd(0.5)));
  __m256d p = _mm256_fmadd_pd(T, _mm256_add_pd(_mm256_fmadd_pd(r2, c, r), tail), T);
  /* K div N + 2046 >= 0 for x >= -746, from the low mantissa bits of t (a logical shift of K + 2046 N) */
  __m256i s = _mm256_srli_epi64(_mm256_sub_epi64(ki, _mm256_set1_epi64x(0x4338000000000000LL - 2046LL * TABLE_N)), 7);
  __m256i e1 = _mm256_srli_epi64(s, 1);
  __m256d f1 = _mm256_castsi256_pd(_mm256_slli_epi64(e1, 52));
  __m256d f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(s, e1), 52));
  return _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
}

/* out[i] = exp(x[i]) (n a multiple of 4), with the polynomial (table = 0) or the table (table = 1) */
void exp_array(const double *x, double *out, long n, int table) {
  for (long i = 0; i < n; i += 4)
    _mm256_storeu_pd(out + i, table ? exp_table_v(_mm256_loadu_pd(x + i)) : exp1_v(_mm256_loadu_pd(x + i)));
}

/* sum_i exp(x[i]), reps times over x (n a multiple of 4): the throughput of the exp alone, in cache */
double exp_sum(const double *x, long n, long reps, int table) {
  __m256d S = _mm256_setzero_pd();
  for (long k = 0; k < reps; k++)
    for (long i = 0; i < n; i += 4)
      S = _mm256_add_pd(S, table ? exp_table_v(_mm256_loadu_pd(x + i)) : exp1_v(_mm256_loadu_pd(x + i)));
  return hsum(S);
}
