// transport_nccl.h — the NCCL arm of the one error path (src/base/check.h), for transport_nccl.c:
// evaluates an NCCL call once and, on failure, ends in hpff_fatal() with file:line, the
// statement and NCCL's own error string (plus its last message, which names the cause).
#ifndef HPFF_TRANSPORT_NCCL_H
#define HPFF_TRANSPORT_NCCL_H
#include <nccl.h>
#include "check.h"

#define HPFF_NCCL_CHECK(stmt)                                                              \
    do {                                                                                   \
        ncclResult_t hpff_r_ = (stmt);                                                     \
        if (hpff_r_ != ncclSuccess)                                                        \
            hpff_fatal(__FILE__, __LINE__, #stmt, "NCCL error %d: %s (%s)", (int)hpff_r_,  \
                       ncclGetErrorString(hpff_r_), ncclGetLastError(NULL));             \
    } while (0)

#endif
