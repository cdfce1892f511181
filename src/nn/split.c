// split.c — the module tables of ALGORITHM §2.4 and the rules for other K.
#include "split.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct end_point { int stage, block; } end_point;   // stage 1-based, block 0-based

// The HPFF code's configs (`config.py`, `configs.py`) for the networks that have one.
static const end_point R32_K8[] = {{1, 0}, {1, 2}, {1, 4}, {2, 1}, {2, 3}, {3, 0}, {3, 2}, {3, 4}};
static const end_point R110_K32[] = {
    {1, 1}, {1, 2}, {1, 4}, {1, 5}, {1, 7}, {1, 9}, {1, 11}, {1, 13}, {1, 14}, {1, 16}, {1, 17},
    {2, 1}, {2, 2}, {2, 4}, {2, 5}, {2, 7}, {2, 9}, {2, 11}, {2, 13}, {2, 14}, {2, 16}, {2, 17},
    {3, 1}, {3, 3}, {3, 4}, {3, 6}, {3, 7}, {3, 9}, {3, 11}, {3, 13}, {3, 15}, {3, 17}};
// ResNet-101, ResNet-152, ResNeXt-101 (their config entries) and ResNet-50 (whose constructor
// passes arch='resnet34', so it uses that table).
static const end_point IN_K4[] = {{3, 0}, {3, 9}, {3, 17}, {4, 2}};
static const end_point IN_K8[] = {{2, 0}, {3, 1}, {3, 5}, {3, 9}, {3, 13}, {3, 17}, {3, 21}, {4, 2}};
static const end_point R50_K4[] = {{2, 0}, {3, 0}, {3, 5}, {4, 2}};

// Module m ends at unit ends[m]; module 0 starts at unit 0 (with the stem, code convention).
static void from_unit_ends(const int *ends, int M, hpff_split *s) {
    s->M = M;
    for (int m = 0; m < M; m++) {
        s->first[m] = m ? s->last[m - 1] + 1 : 0;
        s->last[m] = ends[m];
    }
}

static void from_points(const hpff_net_spec *net, const end_point *pts, int M, hpff_split *s) {
    int ends[HPFF_MAX_MODULES];
    for (int m = 0; m < M; m++) ends[m] = hpff_net_unit_of(net, pts[m].stage, pts[m].block);
    from_unit_ends(ends, M, s);
}

// Block end points spread evenly over `blocks` blocks (as unit indices).
static void even_ends(const hpff_net_spec *net, int blocks, int M, int *ends) {
    for (int m = 0; m < M; m++) ends[m] = net->stem + (int)(((long)(m + 1) * blocks + M - 1) / M) - 1;
}

static hpff_status parse_list(const hpff_net_spec *net, const char *list, int *ends, int *M) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    *M = 0;
    int prev = -1, S = net->stages, last_b = net->blocks[S - 1] - 1;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        int st, bl;
        if (sscanf(tok, "%d:%d", &st, &bl) != 2 || st < 1 || st > S || bl < 0 || bl >= net->blocks[st - 1])
            return hpff_status_fail("local.modules: '%s' is not stage:block with stage 1..%d and a block of that stage",
                                    tok, S);
        int u = hpff_net_unit_of(net, st, bl);
        if (u <= prev)
            return hpff_status_fail("local.modules: end point '%s' does not come after the previous one", tok);
        if (*M >= HPFF_MAX_MODULES) return hpff_status_fail("local.modules: more than %d modules", HPFF_MAX_MODULES);
        ends[(*M)++] = prev = u;
    }
    if (*M == 0) return hpff_status_fail("local.modules is empty; split = list needs end points like \"1:2,2:4,3:4\"");
    if (prev != hpff_net_units(net) - 1)
        return hpff_status_fail("local.modules: the last end point must be %d:%d (the last block)", S, last_b);
    return hpff_status_ok();
}

static int blocks_are(const hpff_net_spec *net, int a, int b, int c, int d) {
    return net->stages == 4 && net->blocks[0] == a && net->blocks[1] == b && net->blocks[2] == c && net->blocks[3] == d;
}

// The authors' table for this network and K, if there is one (1 when s is filled).
static int code_table(const hpff_net_spec *net, int K, hpff_split *s) {
    int blocks = hpff_net_blocks(net), n = net->blocks[0];
    int uniform = net->kind == HPFF_NET_CIFAR && net->blocks[1] == n && net->blocks[2] == n;
    if (uniform && n == 5 && K == 8) { from_points(net, R32_K8, 8, s); return 1; }
    if (uniform && n == 18 && K == 32) { from_points(net, R110_K32, 32, s); return 1; }
    if ((uniform && n == 5 && K == 16) || (uniform && n == 18 && K == 55) ||
        (net->kind == HPFF_NET_VGG && K == blocks)) {   // one block (VGG: one conv) per module
        int ends[HPFF_MAX_MODULES];
        for (int m = 0; m < blocks; m++) ends[m] = net->stem + m;
        from_unit_ends(ends, blocks, s);
        return 1;
    }
    int deep = blocks_are(net, 3, 4, 23, 3) || blocks_are(net, 3, 8, 36, 3);
    if (net->kind == HPFF_NET_BOTTLENECK && deep && K == 4) { from_points(net, IN_K4, 4, s); return 1; }
    if (net->kind == HPFF_NET_BOTTLENECK && deep && K == 8) { from_points(net, IN_K8, 8, s); return 1; }
    if (net->kind == HPFF_NET_BOTTLENECK && blocks_are(net, 3, 4, 6, 3) && K == 4) {
        from_points(net, R50_K4, 4, s);
        return 1;
    }
    return 0;
}

static hpff_status paper_split(const hpff_net_spec *net, int K, hpff_split *s) {
    int blocks = hpff_net_blocks(net), ends[HPFF_MAX_MODULES];
    if (!net->stem) return hpff_status_fail("local.split = paper makes the stem module 0, but this network has no stem");
    if (K - 1 > blocks)
        return hpff_status_fail("local.K = %d with split = paper needs at most %d modules for %d blocks", K, blocks + 1, blocks);
    even_ends(net, blocks, K - 1, ends);
    s->M = K;
    s->first[0] = s->last[0] = 0;
    for (int m = 1; m < K; m++) {
        s->first[m] = s->last[m - 1] + 1;
        s->last[m] = ends[m - 1];
    }
    return hpff_status_ok();
}

hpff_status hpff_split_make(const hpff_net_spec *net, int K, hpff_split_mode mode, const char *list, hpff_split *s) {
    int blocks = hpff_net_blocks(net), ends[HPFF_MAX_MODULES];
    memset(s, 0, sizeof *s);
    if (K < 1) return hpff_status_fail("local.K = %d; it must be at least 1", K);
    if (K == 1) {
        s->M = 1;
        s->first[0] = 0;
        s->last[0] = hpff_net_units(net) - 1;
        return hpff_status_ok();
    }
    if (mode == HPFF_SPLIT_LIST) {
        int M;
        hpff_status st = parse_list(net, list, ends, &M);
        if (st.code) return st;
        from_unit_ends(ends, M, s);
        return hpff_status_ok();
    }
    if (mode == HPFF_SPLIT_PAPER) return paper_split(net, K, s);
    // code without a table for this network/K falls back to the even rule (documented in the README).
    if (mode == HPFF_SPLIT_CODE && code_table(net, K, s)) return hpff_status_ok();
    if (K > blocks) return hpff_status_fail("local.K = %d exceeds the %d blocks of this network", K, blocks);
    even_ends(net, blocks, K, ends);
    from_unit_ends(ends, K, s);
    return hpff_status_ok();
}
