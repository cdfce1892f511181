// sizes.h — size arithmetic shared by the buffer planners (layer sequences, heads, the model).
#ifndef HPFF_SIZES_H
#define HPFF_SIZES_H
#include <stddef.h>

// Rounds a float count up to a multiple of 16 floats (64 bytes): every planned buffer starts
// on a cache line.
static inline size_t hpff_align16(size_t v) { return (v + 15) & ~(size_t)15; }
static inline size_t hpff_zmax(size_t a, size_t b) { return a > b ? a : b; }

#endif
