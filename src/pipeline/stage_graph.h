// stage_graph.h — backend.graph for the stage: a step is a fixed sequence (device work,
// transport call, device work, ...) with the same calls on the same buffers every full-batch
// step. Recording captures each stretch of device work as one graph (a segment) and notes the
// transport calls between them; a replay launches the segments and makes the same calls
// without running the step's host code. On the CPU the op recorder (backend_record.h) gives the
// same semantics, so this path is tested everywhere.
#ifndef HPFF_STAGE_GRAPH_H
#define HPFF_STAGE_GRAPH_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

struct hpff_stage;
struct hpff_step_stats;

// A transport call of a step, as a recorded step replays it.
#define HPFF_STAGE_MAX_SEGS 8
typedef enum { HPFF_ACT_SEND_DOWN, HPFF_ACT_SEND_UP, HPFF_ACT_RECV_UP } hpff_stage_action_kind;
typedef struct hpff_stage_action {
    hpff_stage_action_kind kind;
    const float *src;       // send: the payload
    float *dst;             // receive: where it lands
    size_t count;
    int n;                  // batch (send_down)
    size_t target_count;    // send_down: floats of the reconstruction target (0: none)
} hpff_stage_action;

// One recorded step: its device work between transport calls, and the calls.
typedef struct hpff_graph_set {
    void *segs[HPFF_STAGE_MAX_SEGS];               // segment i: device work before acts[i]
    hpff_stage_action acts[HPFF_STAGE_MAX_SEGS];   // the transport call after segs[i] (not after the last)
    int n_segs;
    int ready;
} hpff_graph_set;

typedef struct hpff_stage_graph {
    int wanted;                 // backend.graph: replay full-batch steps from recorded graphs
    int verbose;                // say once when the step was recorded
    int warm;                   // eager steps done before recording
    int failed;                 // recording failed once: eager from then on
    hpff_graph_set sets[2];     // by step parity on a delayed boundary rank (its buffers
                                //   alternate), else sets[0] only
    hpff_graph_set *recording;  // the set hpff_stage_compute is being recorded into, else NULL
} hpff_stage_graph;

// A transport call inside a step: made at once, and noted (between two segments) while the
// step is being recorded.
void hpff_stage_transport(struct hpff_stage *s, hpff_stage_action a);
// 1 when this step (batch n) runs through graphs: the batch is full, nothing synchronises
// between ops (no phase hook), the backend can record, and on a delayed boundary the previous
// step was full and no flush computed its pending gradient already.
int hpff_stage_graph_eligible(const struct hpff_stage *s, int n);
// hpff_stage_compute through recorded graphs: eager warm-up steps, record once (per parity),
// replay after.
void hpff_stage_compute_graph(struct hpff_stage *s, int n, struct hpff_step_stats *st);
// 1 when backend.graph recorded every graph set this rank replays.
int hpff_stage_graphs_ready(const struct hpff_stage *s);
void hpff_stage_graph_free(struct hpff_stage *s);

#ifdef __cplusplus
}
#endif
#endif
