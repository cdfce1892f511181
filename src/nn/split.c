// split.c — the module tables of ALGORITHM §2.4 and the rules for other K.
#include "split.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Block end points (global 0-based block index, stage-major) of the HPFF code's configs.
static const int R32_K8[] = {0, 2, 4, 6, 8, 10, 12, 14};
static const int R110_K32[] = {1, 2, 4, 5, 7, 9, 11, 13, 14, 16, 17,
                               19, 20, 22, 23, 25, 27, 29, 31, 32, 34, 35,
                               37, 39, 40, 42, 43, 45, 47, 49, 51, 53};

// Module m ends after block ends[m]; the stem goes with module 0 (code convention).
static void from_block_ends(const int *ends, int M, hpff_split *s) {
    s->M = M;
    for (int m = 0; m < M; m++) {
        s->first[m] = m ? s->last[m - 1] + 1 : 0;
        s->last[m] = 1 + ends[m];
    }
}

static void even_ends(int blocks, int M, int *ends) {
    for (int m = 0; m < M; m++) ends[m] = (int)(((long)(m + 1) * blocks + M - 1) / M) - 1;
}

static hpff_status parse_list(int n, const char *list, int *ends, int *M) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    *M = 0;
    int prev = -1;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        int st, bl;
        if (sscanf(tok, "%d:%d", &st, &bl) != 2 || st < 1 || st > 3 || bl < 0 || bl >= n)
            return hpff_status_fail("local.modules: '%s' is not stage:block with stage 1..3 and block 0..%d", tok, n - 1);
        int g = (st - 1) * n + bl;
        if (g <= prev)
            return hpff_status_fail("local.modules: end point '%s' does not come after the previous one", tok);
        if (*M >= HPFF_MAX_MODULES) return hpff_status_fail("local.modules: more than %d modules", HPFF_MAX_MODULES);
        ends[(*M)++] = prev = g;
    }
    if (*M == 0) return hpff_status_fail("local.modules is empty; split = list needs end points like \"1:2,2:4,3:4\"");
    if (prev != 3 * n - 1)
        return hpff_status_fail("local.modules: the last end point must be 3:%d (the last block)", n - 1);
    return hpff_status_ok();
}

hpff_status hpff_split_make(int n, int K, hpff_split_mode mode, const char *list, hpff_split *s) {
    int blocks = 3 * n, ends[HPFF_MAX_MODULES];
    memset(s, 0, sizeof *s);
    if (K < 1) return hpff_status_fail("local.K = %d; it must be at least 1", K);
    if (K == 1) {
        s->M = 1;
        s->first[0] = 0;
        s->last[0] = blocks;
        return hpff_status_ok();
    }
    if (mode == HPFF_SPLIT_LIST) {
        int M;
        hpff_status st = parse_list(n, list, ends, &M);
        if (st.code) return st;
        from_block_ends(ends, M, s);
        return hpff_status_ok();
    }
    if (mode == HPFF_SPLIT_PAPER) {   // stem alone, blocks evenly over the other K-1 modules
        if (K - 1 > blocks) return hpff_status_fail("local.K = %d with split = paper needs at most %d modules for %d blocks", K, blocks + 1, blocks);
        even_ends(blocks, K - 1, ends);
        s->M = K;
        s->first[0] = s->last[0] = 0;
        for (int m = 1; m < K; m++) {
            s->first[m] = s->last[m - 1] + 1;
            s->last[m] = 1 + ends[m - 1];
        }
        return hpff_status_ok();
    }
    if (mode == HPFF_SPLIT_CODE) {
        if (n == 5 && K == 8) { from_block_ends(R32_K8, 8, s); return hpff_status_ok(); }
        if (n == 18 && K == 32) { from_block_ends(R110_K32, 32, s); return hpff_status_ok(); }
        if ((n == 5 && K == 16) || (n == 18 && K == 55)) {   // one block per module, K-1 modules
            for (int m = 0; m < blocks; m++) ends[m] = m;
            from_block_ends(ends, blocks, s);
            return hpff_status_ok();
        }
        // No table for this network/K: the even rule (documented in the README).
    } else if (mode != HPFF_SPLIT_EVEN) {
        return hpff_status_fail("local.split = %d is not one of: code, paper, even, list", (int)mode);
    }
    if (K > blocks) return hpff_status_fail("local.K = %d exceeds the %d blocks of this network", K, blocks);
    even_ends(blocks, K, ends);
    from_block_ends(ends, K, s);
    return hpff_status_ok();
}

