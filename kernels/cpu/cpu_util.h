// cpu_util.h — small inline helpers shared by the CPU backend's sources.
#ifndef HPFF_CPU_UTIL_H
#define HPFF_CPU_UTIL_H
#include <stddef.h>

// Sum of x[0..n) in double; eight lanes so that gcc -O3 vectorises the loop.
static inline double hpff_cpu_sum(const float *x, size_t n) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += (double)x[i + j];
    for (; i < n; i++) a[0] += (double)x[i];
    return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

#endif
