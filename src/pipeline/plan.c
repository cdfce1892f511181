// plan.c — contiguous partition of module costs over ranks (minimise the bottleneck stage).
#include "plan.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Can the modules be cut into at most `ranks` contiguous parts of cost <= cap?
static int fits(const double *c, int M, int ranks, double cap) {
    int parts = 1;
    double sum = 0;
    for (int m = 0; m < M; m++) {
        if (c[m] > cap) return 0;
        if (sum + c[m] > cap) { parts++; sum = 0; }
        sum += c[m];
    }
    return parts <= ranks;
}

static void by_cost(const double *c, int M, int ranks, hpff_plan *p) {
    double lo = 0, hi = 0;
    for (int m = 0; m < M; m++) hi += c[m];
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi);
        if (fits(c, M, ranks, mid)) hi = mid; else lo = mid;
    }
    // Greedy fill under the cap, but leave at least one module for every later rank.
    int m = 0;
    for (int r = 0; r < ranks; r++) {
        p->m0[r] = m;
        double sum = c[m++];
        while (m < M && M - m > ranks - 1 - r && sum + c[m] <= hi * (1 + 1e-9)) sum += c[m++];
        if (r == ranks - 1) m = M;
        p->m1[r] = m - 1;
    }
}

static hpff_status parse_ranges(const char *s, int M, int ranks, hpff_plan *p) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    int r = 0, next = 0;
    for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
        int a, b;
        if (sscanf(tok, "%d-%d", &a, &b) != 2) {
            if (sscanf(tok, "%d", &a) != 1) return hpff_status_fail("pipeline.ranges: '%s' is not a module range like 0-3", tok);
            b = a;
        }
        if (r >= ranks) return hpff_status_fail("pipeline.ranges lists more ranges than the %d ranks", ranks);
        if (a != next || b < a || b >= M)
            return hpff_status_fail("pipeline.ranges: range '%s' must start at module %d and end at or before %d", tok, next, M - 1);
        p->m0[r] = a;
        p->m1[r] = b;
        next = b + 1;
        r++;
    }
    if (r != ranks || next != M)
        return hpff_status_fail("pipeline.ranges = '%s' must give %d contiguous ranges covering modules 0..%d", s, ranks, M - 1);
    return hpff_status_ok();
}

hpff_status hpff_plan_make(const hpff_module_cost *cost, int M, int ranks, const char *ranges, hpff_plan *p) {
    memset(p, 0, sizeof *p);
    p->ranks = ranks;
    p->M = M;
    if (ranks > M)
        return hpff_status_fail("%d ranks but the network has only %d local modules: each rank needs at least one "
                                "(use mpirun -np %d or fewer, or a larger local.K)", ranks, M, M);
    double c[HPFF_MAX_MODULES];
    for (int m = 0; m < M; m++) c[m] = cost[m].cost;
    if (ranges && ranges[0]) {
        hpff_status st = parse_ranges(ranges, M, ranks, p);
        if (st.code) return st;
    } else {
        by_cost(c, M, ranks, p);
    }
    for (int r = 0; r < ranks; r++)
        for (int m = p->m0[r]; m <= p->m1[r]; m++) p->cost[r] += c[m];
    return hpff_status_ok();
}

void hpff_plan_print(const hpff_plan *p, const hpff_module_cost *cost, double ms_per_cost, FILE *f) {
    double maxc = 0, total = 0;
    for (int r = 0; r < p->ranks; r++) {
        if (p->cost[r] > maxc) maxc = p->cost[r];
        total += p->cost[r];
    }
    fprintf(f, "pipeline plan: %d modules on %d rank%s\n", p->M, p->ranks, p->ranks > 1 ? "s" : "");
    fprintf(f, "  rank  modules   params     act/slot  %s  rel.time%s\n", p->bytes[0] > 0 ? "   memory   " : "params+slots",
            ms_per_cost > 0 ? "  pred ms/step" : "");
    for (int r = 0; r < p->ranks; r++) {
        size_t params = 0;
        double act = 0, out = 0;
        for (int m = p->m0[r]; m <= p->m1[r]; m++) {
            params += cost[m].params;
            if (cost[m].act_bytes > act) act = cost[m].act_bytes;
            if (cost[m].out_bytes > out) out = cost[m].out_bytes;
        }
        char mods[32];
        snprintf(mods, sizeof mods, p->m0[r] == p->m1[r] ? "%d" : "%d-%d", p->m0[r], p->m1[r]);
        // parameters, gradients, momentum + the rotating activation slots and outputs (src/pipeline/model.c)
        int count = p->m1[r] - p->m0[r] + 1;
        double mem = 12.0 * (double)params + (count < 2 ? count : 2) * act + (count < 3 ? count : 3) * out;
        if (p->bytes[r] > 0) mem = p->bytes[r];   // every buffer of the rank, counted
        fprintf(f, "  %4d  %-8s %8zu  %8.1f MiB  %8.1f MiB  %7.1f%%", r, mods, params, (act + out) / (1 << 20),
                mem / (1 << 20), 100.0 * p->cost[r] / total);
        if (ms_per_cost > 0) fprintf(f, "  %10.1f", p->cost[r] * ms_per_cost);
        fprintf(f, "\n");
    }
    if (p->ranks > 1)
        fprintf(f, "  balance: slowest rank %.1f%% of the work (ideal %.1f%%)\n", 100.0 * maxc / total, 100.0 / p->ranks);
}
