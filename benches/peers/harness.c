/* Calls a forest compiled by tl2cgen or lleaves from C, the way a C or
 * Rust caller would (no Python between the timer and the call).
 *
 *   harness tl2cgen|lleaves LIB.so ROWS.f32 N_FEATURES N_CLASSES score OUT.f64
 *   harness tl2cgen|lleaves LIB.so ROWS.f32 N_FEATURES N_CLASSES bench
 *
 * ROWS.f32 is little-endian float32, row-major. `score` writes every row's
 * probabilities (float64, row-major) for the correctness check; `bench`
 * prints one JSON object with nanoseconds a row, single row (one call per
 * row, each call a different row in file order, so no branch predictor
 * learns one row's path) and batch (lleaves: one call per 1,024 rows;
 * tl2cgen has no batch entry point in C, so its batch is the same loop).
 *
 * tl2cgen's library: void predict(union Entry *row, int pred_margin,
 * double *out), with Entry { int missing; double fvalue; int qvalue; }
 * and missing = -1 for NaN (its header.h). lleaves' object: void
 * forest_root(double *rows, double *out, int start, int end).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

union Entry {
    int missing;
    double fvalue;
    int qvalue;
};

typedef void (*tl2cgen_predict)(union Entry *, int, double *);
typedef void (*lleaves_predict)(double *, double *, int, int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile double sink;

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: harness tl2cgen|lleaves LIB ROWS.f32 NF NC score OUT | bench\n");
        return 2;
    }
    const char *kind = argv[1];
    int nf = atoi(argv[4]), nc = atoi(argv[5]);
    int tl2cgen = strcmp(kind, "tl2cgen") == 0;
    void *lib = dlopen(argv[2], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void *fn = dlsym(lib, tl2cgen ? "predict" : "forest_root");
    if (!fn) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    FILE *f = fopen(argv[3], "rb");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    long n = bytes / 4 / nf;
    float *x = malloc(bytes);
    if (fread(x, 4, n * nf, f) != (size_t)(n * nf)) {
        fprintf(stderr, "short read\n");
        return 1;
    }
    fclose(f);
    double *rows = malloc(sizeof(double) * n * nf);
    union Entry *entries = malloc(sizeof(union Entry) * n * nf);
    for (long i = 0; i < n * nf; i++) {
        rows[i] = x[i];
        if (isnan(x[i]))
            entries[i].missing = -1;
        else
            entries[i].fvalue = x[i];
    }
    double *out = calloc(n * nc, sizeof(double));
    tl2cgen_predict tp = (tl2cgen_predict)fn;
    lleaves_predict lp = (lleaves_predict)fn;

    if (strcmp(argv[6], "score") == 0) {
        for (long i = 0; i < n; i++) {
            if (tl2cgen)
                tp(entries + i * nf, 0, out + i * nc);
            else
                lp(rows, out, (int)i, (int)i + 1);
        }
        FILE *o = fopen(argv[7], "wb");
        fwrite(out, sizeof(double), n * nc, o);
        fclose(o);
        return 0;
    }

    double result[2];
    for (int mode = 0; mode < 2; mode++) {
        long passes = 0;
        double start = 0;
        for (int warm = 1;; warm = 0) {
            if (!warm && passes == 0)
                start = now();
            if (tl2cgen) {
                for (long i = 0; i < n; i++)
                    tp(entries + i * nf, 0, out + i * nc);
            } else if (mode == 0) {
                for (long i = 0; i < n; i++)
                    lp(rows, out, (int)i, (int)i + 1);
            } else {
                for (long i = 0; i < n; i += 1024)
                    lp(rows, out, (int)i, (int)(i + 1024 < n ? i + 1024 : n));
            }
            sink += out[(passes * 7919) % (n * nc)];
            if (warm)
                continue;
            passes++;
            if (now() - start >= 1.0)
                break;
        }
        result[mode] = (now() - start) * 1e9 / passes / n;
    }
    printf("{\"rows\": %ld, \"single_ns\": %.1f, \"batch_ns\": %.1f}\n", n, result[0], result[1]);
    return 0;
}
