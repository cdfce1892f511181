// backend_record.h — graphs for a backend that has none (the CPU): a wrapper that records the
// ops issued between graph_begin and graph_end, without running them, and replays them in order
// on graph_run, the way a CUDA graph captures and replays a stream (backend.h, graph hooks). On
// the CPU a replay is no faster than running the ops; the wrapper exists so that the trainer's
// graph path (src/pipeline/stage.c: segments between transport calls, host-side effects) runs and is
// tested on every machine, bitwise against op-by-op steps.
//
// As under CUDA stream capture, a copy to or from the host or a sync while recording fails the
// recording (graph_end says which op), and the recorded ops never run.
#ifndef HPFF_BACKEND_RECORD_H
#define HPFF_BACKEND_RECORD_H
#include "backend.h"
#ifdef __cplusplus
extern "C" {
#endif

// Wraps `inner` (which must have no graph hooks of its own); the wrapper owns it from now on:
// hpff_backend_destroy on the wrapper destroys both. name, host_memory and ctx are the inner's.
hpff_backend *hpff_backend_recorder(hpff_backend *inner);
int hpff_backend_is_recorder(const hpff_backend *be);

#ifdef __cplusplus
}
#endif
#endif
